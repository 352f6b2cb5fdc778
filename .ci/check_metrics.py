"""Reads gpugate's Prometheus text with the Prometheus Python client's own
parser and checks that it says what doctor's exit code says."""
import sys

from prometheus_client.parser import text_string_to_metric_families

path, rc = sys.argv[1], int(sys.argv[2])
with open(path, encoding="utf-8") as f:
    families = {f.name: f for f in text_string_to_metric_families(f.read())}
for name in ("gpugate_healthy", "gpugate_diagnoses", "gpugate_stack_info",
             "gpugate_doctor_timestamp_seconds"):
    if name not in families:
        sys.exit(f"{path}: no {name} (has {sorted(families)})")
    if families[name].type != "gauge":
        sys.exit(f"{path}: {name} is a {families[name].type}, not a gauge")
healthy = families["gpugate_healthy"].samples[0].value
if healthy != (1 if rc == 0 else 0):
    sys.exit(f"{path}: gpugate_healthy is {healthy}, but doctor exited {rc}")
if rc != 0:
    errors = [s for s in families["gpugate_diagnosis"].samples
              if s.labels.get("level") == "error"]
    if not errors:
        sys.exit(f"{path}: doctor exited {rc} but no error diagnosis series")
print(f"{path}: {len(families)} metric families read by prometheus_client")
