"""The local stand-in for Lambda's DynamoDB event source mapping: reads the table's
stream from moto, drops what the template's FilterCriteria drop, and invokes the real
`publish-events` binary (through `cargo lambda watch`) with the event Lambda would
send, honouring its partial-batch response as Lambda does.

    python scripts/stream_pump.py          # `make dev`: forever, from the stream's start

Environment (scripts/local-env.sh): AWS_ENDPOINT_URL_DYNAMODB, TABLE_NAME, API_PORT.
The end-to-end tests import `Pump` and run it over the records their requests wrote.

Where this differs from Lambda (and from DynamoDB behind it):
- moto's stream records say `eventVersion` "1.0" (DynamoDB: "1.1") and `SizeBytes`
  of the whole change as JSON; their `eventID` is a random 32-hex-digit id, as on AWS.
- moto never expires items by TTL, so no record ever carries the TTL service's
  `userIdentity`: the tests send such a record themselves (`Pump.invoke`).
- moto's stream has one shard forever; DynamoDB splits and rotates shards, and Lambda
  reads each in its own order (per item, never across the table).
- A batch still failing after MaximumRetryAttempts is logged and skipped here; Lambda
  sends its description to the OnFailure destination (the template's SQS queue).
- Lambda's BisectBatchOnFunctionError is not imitated: a failing invocation is simply
  retried.
"""

import base64
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import yaml
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parents[1]
FUNCTION = "publish-events"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !GetAtt … as None: only the literal properties are used."""


CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def stream_mapping(template_path):
    """The Properties of the DynamoDB event of the function built from `publish-events`."""
    template = yaml.load(Path(template_path).read_text(), Loader=CloudFormationLoader)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") != FUNCTION:
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "DynamoDB":
                return event["Properties"]
    raise SystemExit(f"no DynamoDB event for {FUNCTION} in {template_path}")


def lambda_json(value):
    """boto3's parsed value back into the JSON Lambda sends: binaries in base64,
    times as epoch seconds."""
    if isinstance(value, dict):
        return {k: lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lambda_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return value


class Pump:
    def __init__(self, endpoint=None, table=None, api_port=None, template=ROOT / "template.yaml"):
        endpoint = endpoint or os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
        table = table or os.environ["TABLE_NAME"]
        api_port = api_port or os.environ["API_PORT"]
        mapping = stream_mapping(template)
        self.batch_size = int(mapping.get("BatchSize", 100))
        self.max_retries = int(mapping.get("MaximumRetryAttempts", -1))
        self.filters = [
            EventPattern.load(f["Pattern"])
            for f in (mapping.get("FilterCriteria") or {}).get("Filters", [])
        ]
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
        description = boto3.client("dynamodb", endpoint_url=endpoint).describe_table(TableName=table)
        self.stream_arn = description["Table"]["LatestStreamArn"]
        self.view_type = description["Table"]["StreamSpecification"]["StreamViewType"]
        self.region = self.stream_arn.split(":")[3]
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        self.shard_id = shards[0]["ShardId"]
        self.invoke_url = f"http://127.0.0.1:{api_port}/2015-03-31/functions/{FUNCTION}/invocations"
        # The last sequence number done (published, filtered out, or given up on).
        self.after = None
        self.failures = 0
        # Every event sent to the function, and its answer, for the tests.
        self.invocations = []

    def _read(self, limit):
        # The position is a sequence number, as Lambda keeps one per shard: every read
        # starts from a fresh iterator after the last record done.
        if self.after is None:
            position = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.after}
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id, **position
        )["ShardIterator"]
        return self.streams.get_records(ShardIterator=iterator, Limit=limit)["Records"]

    def skip_to_end(self):
        """Marks everything in the stream so far as done (StartingPosition LATEST)."""
        while records := self._read(1000):
            self.after = records[-1]["dynamodb"]["SequenceNumber"]

    def lambda_record(self, record):
        """A stream record as Lambda hands it to the function."""
        change = lambda_json(record["dynamodb"])
        change.setdefault("StreamViewType", self.view_type)
        built = {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", self.region),
            "dynamodb": change,
            "eventSourceARN": self.stream_arn,
        }
        if record.get("userIdentity"):
            built["userIdentity"] = lambda_json(record["userIdentity"])
        return built

    def passes(self, record):
        return not self.filters or any(f.matches_event(record) for f in self.filters)

    def invoke(self, records):
        """Invokes the real function with these Lambda records; its answer as JSON."""
        event = {"Records": records}
        request = urllib.request.Request(
            self.invoke_url,
            data=json.dumps(event).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        # The first invocation may wait for cargo lambda watch to start the binary.
        with urllib.request.urlopen(request, timeout=300) as response:
            answer = json.loads(response.read() or b"null")
        self.invocations.append((event, answer))
        return answer

    def first_not_done(self, records):
        """Invokes the function with these records: the sequence number of the first
        record not done, or None when all are."""
        try:
            answer = self.invoke(records)
        except (OSError, ValueError) as error:
            answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
        if not isinstance(answer, dict) or "errorType" in answer:
            # A function error: Lambda retries the whole batch.
            print(f"stream_pump: {FUNCTION} failed: {answer}", file=sys.stderr)
            return records[0]["dynamodb"]["SequenceNumber"]
        failed = [f["itemIdentifier"] for f in answer.get("batchItemFailures", [])]
        return min(failed, key=int) if failed else None

    def poll(self):
        """One batch: read, filter, invoke. Returns how many records were read."""
        records = [self.lambda_record(r) for r in self._read(self.batch_size)]
        if not records:
            return 0
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        wanted = [r for r in records if self.passes(r)]
        first = self.first_not_done(wanted) if wanted else None
        if first is None:
            self.after, self.failures = sequence[-1], 0
            return len(records)
        self.failures += 1
        if 0 <= self.max_retries < self.failures:
            print(
                f"stream_pump: gave up on records {sequence[0]}..{sequence[-1]} after "
                f"{self.max_retries} retries (Lambda: a record of them in the OnFailure queue)",
                file=sys.stderr,
            )
            self.after, self.failures = sequence[-1], 0
            return len(records)
        # Lambda resumes at the reported record: everything before it is done.
        done = [s for s in sequence if int(s) < int(first)]
        if done:
            self.after, self.failures = done[-1], 0
        return len(records)

    def drain(self, pause=0.2, max_polls=1000):
        """Polls until the stream has nothing new (retries included)."""
        for _ in range(max_polls):
            if self.poll() == 0:
                return
            if self.failures:
                time.sleep(pause)
        raise RuntimeError("the stream did not drain")

    def run_forever(self, interval=0.5):
        while True:
            try:
                if self.poll() == 0 or self.failures:
                    time.sleep(interval)
            except Exception as error:  # noqa: BLE001 - the stack is restarting: wait
                print(f"stream_pump: {error}", file=sys.stderr)
                time.sleep(2)


def main():
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Pump().run_forever()


if __name__ == "__main__":
    main()
