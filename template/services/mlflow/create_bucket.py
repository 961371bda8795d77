"""Create the MLflow artifact bucket if it does not exist yet (idempotent one-shot)."""

import os
import sys
import time

import boto3
from botocore.exceptions import ClientError, EndpointConnectionError


def main() -> int:
    bucket = os.environ.get("MLFLOW_BUCKET", "mlflow")
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")
    for attempt in range(30):
        try:
            s3.head_bucket(Bucket=bucket)
            print(f"bucket {bucket!r} already exists")
            return 0
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            s3.create_bucket(Bucket=bucket)
            print(f"bucket {bucket!r} created")
            return 0
        except EndpointConnectionError:
            # Healthy is not always ready to accept S3 calls on the first try.
            print(f"object store not reachable yet (attempt {attempt + 1})", file=sys.stderr)
            time.sleep(1)
    print("object store never became reachable", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
