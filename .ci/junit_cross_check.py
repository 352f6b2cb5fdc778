"""Reads gpugate's JUnit reports with an independent reader (junitparser)
and compares every test's status and the counts with gpugate's own JSON
document of the same run. Usage: junit_cross_check.py JUNIT JSON ..."""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped


def statuses_from_junit(path):
    xml = JUnitXml.fromfile(path)
    suites = [xml] if xml._tag == "testsuite" else list(xml)
    found = {}
    for suite in suites:
        for case in suite:
            kinds = {type(r) for r in case.result}
            if Failure in kinds:
                status = "fail"
            elif Error in kinds:
                status = "error"
            elif Skipped in kinds:
                status = "skip"
            else:
                status = "pass"
            key = (case.classname, case.name)
            assert key not in found, f"{path}: duplicate test case {key}"
            found[key] = status
    return found


def main(pairs):
    for junit, document in zip(pairs[::2], pairs[1::2]):
        from_junit = statuses_from_junit(junit)
        with open(document) as f:
            run = json.load(f)
        from_json = {(r["suite"], r["name"]): r["status"] for r in run["results"]}
        assert from_junit == from_json, f"{junit} and {document} disagree:\n{from_junit}\n{from_json}"
        counts = {s: list(from_junit.values()).count(s) for s in ("pass", "fail", "error", "skip")}
        assert counts == run["counts"], f"{junit}: counts {counts} != {run['counts']}"
        print(f"junitparser agrees with gpugate on {junit}: {counts}")


if __name__ == "__main__":
    main(sys.argv[1:])
