"""Prints, as JSON, the version `pip install --no-deps` would choose for
each requirement given as an argument (null where none fits).

`pip install --dry-run` needs each candidate's metadata, and for NVIDIA's
CUDA wheels that means downloading them: 1.5 GB, into the temporary
directory, to check six version ranges. pip's own index lookup lists the
versions this interpreter and platform can install without downloading
any; the newest one the range admits is the one pip installs.
"""
import json
import subprocess
import sys

from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.version import Version

chosen = {}
for text in sys.argv[1:]:
    requirement = Requirement(text)
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", requirement.name,
         "--disable-pip-version-check"],
        capture_output=True, text=True,
    )
    if listing.returncode != 0:
        sys.exit(f"pip index versions {requirement.name} failed:\n{listing.stderr}")
    available = [line for line in listing.stdout.splitlines()
                 if line.startswith("Available versions:")]
    if not available:
        sys.exit(f"pip index versions {requirement.name} listed no versions:\n{listing.stdout}")
    versions = [Version(v) for v in available[0].split(":", 1)[1].replace(" ", "").split(",")]
    best = max(requirement.specifier.filter(versions), default=None)
    chosen[text] = None if best is None else str(best)
json.dump(chosen, sys.stdout)
