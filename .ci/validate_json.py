"""Validates gpugate's JSON documents against the schemas in schemas/.
Usage: validate_json.py SCHEMA_NAME DOCUMENT [SCHEMA_NAME DOCUMENT ...]
(SCHEMA_NAME: run, facts, doctor, merge)."""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

root = pathlib.Path(__file__).resolve().parent.parent / "schemas"
schemas = {p.name.split(".")[0]: json.loads(p.read_text()) for p in root.glob("*.schema.json")}
registry = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in schemas.values()
)
args = sys.argv[1:]
for name, document in zip(args[::2], args[1::2]):
    schema = schemas[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    doc = json.loads(pathlib.Path(document).read_text())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for error in errors[:10]:
        print(f"{document}: {'/'.join(map(str, error.path))}: {error.message[:300]}", file=sys.stderr)
    if errors:
        sys.exit(f"{document} does not validate against schemas/{name}.schema.json")
    print(f"{document}: valid against schemas/{name}.schema.json")
