"""Waits for a fresh moto server and gives it one signing key (run by scripts/peers/s3.sh).

Usage: s3_init.py ENDPOINT PID TIMEOUT_SECONDS

moto accepts any credentials until INITIAL_NO_AUTH_ACTION_COUNT actions have been made;
the server is started with that count at 3, and this script spends exactly those three
free calls on an IAM user, an access key and an allow-all policy, so from then on every
request must carry a valid SigV4 signature made with that key. It prints the access key
id and the secret key on two lines. It fails (status 1, reason on stderr) when the
server process PID exits or the server does not answer within TIMEOUT_SECONDS.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request


def wait_ready(endpoint: str, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"s3: moto_server (pid {pid}) exited before it was ready")
        try:
            # The moto API is not an AWS action: polling it spends none of the free calls.
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"s3: moto_server did not answer on {endpoint} within {timeout:g} s")
        time.sleep(0.05)


BUCKET = "workvault-test"


def main() -> None:
    endpoint, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    # Imported here, while the server is still starting: the import takes a few tenths of a second.
    import boto3

    wait_ready(endpoint, pid, timeout)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="workvault-test")
    key = iam.create_access_key(UserName="workvault-test")["AccessKey"]
    iam.put_user_policy(
        UserName="workvault-test",
        PolicyName="allow-all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    # The bucket the tests share (each test works under its own prefix), made with the
    # new key: a signed call, which spends none of the free unsigned ones.
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    s3.create_bucket(Bucket=BUCKET)
    print(key["AccessKeyId"])
    print(key["SecretAccessKey"])


if __name__ == "__main__":
    main()
