"""Create the containers of examples/azurite/datastores.yaml in a running Azurite.

    python examples/azurite/setup_containers.py                    # Azurite on 127.0.0.1:10000
    python examples/azurite/setup_containers.py --endpoint 127.0.0.1:10010

Uses azure-storage-blob (installed with reconciler) and Azurite's well-known development account
devstoreaccount1, whose key is public (see secrets/account-key.txt). Safe to run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient

ACCOUNT = "devstoreaccount1"
CONTAINERS = ("landing", "published")
KEY_FILE = Path(__file__).resolve().parent / "secrets" / "account-key.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="127.0.0.1:10000", help="Azurite's blob host:port (default: %(default)s)")
    args = parser.parse_args(argv)
    url = f"http://{args.endpoint}/{ACCOUNT}"
    credential = {"account_name": ACCOUNT, "account_key": KEY_FILE.read_text().strip()}
    service = BlobServiceClient(url, credential=credential, retry_total=0, connection_timeout=5)
    for name in CONTAINERS:
        try:
            service.create_container(name)
            print(f"created container {name} at {url}/{name}")
        except ResourceExistsError:
            print(f"container {name} already exists at {url}/{name}")
        except AzureError as exc:
            print(f"cannot create container {name} at {url}: {exc.message.splitlines()[0]}", file=sys.stderr)
            print('Is Azurite running? See "Try it against Azurite" in README.md.', file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
