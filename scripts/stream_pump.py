"""The local stand-in for Lambda's DynamoDB event source mapping: reads the table's
stream from DynamoDB Local, drops what the template's FilterCriteria drop, and invokes
the real `publish-events` binary (through `cargo lambda watch`) with the event Lambda
would send, honouring its partial-batch response as Lambda does.

    python scripts/stream_pump.py          # `make dev`: forever, from the stream's start

Environment (scripts/local-env.sh): AWS_ENDPOINT_URL_DYNAMODB, TABLE_NAME, API_PORT.
The end-to-end tests import `Pump` and run it over the records their requests wrote.

It reads every shard, as Lambda does: a shard's records in order, a child shard only
once its parent is read to its end (DynamoDB closes shards and opens children; the
records of one item never cross from a child back to its parent).

Where this differs from Lambda (and DynamoDB Local from DynamoDB):
- DynamoDB Local 3.3.1 deletes expired items by TTL within seconds (DynamoDB: within
  days), and names the stream record of such a deletion `UNKNOWN_TO_SDK_VERSION`,
  without the `userIdentity` DynamoDB documents for it; the pump hands it on as
  DynamoDB writes it: `REMOVE`, with the TTL service's `userIdentity`.
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
# What DynamoDB says of a deletion by TTL (DynamoDB Local does not say it).
TTL_SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


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
        # DynamoDB Local's ARNs name the region "ddblocal": Lambda's records carry the
        # function's region.
        self.region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoke_url = f"http://127.0.0.1:{api_port}/2015-03-31/functions/{FUNCTION}/invocations"
        # Per shard, the last sequence number done (published, filtered out, or given
        # up on), as Lambda keeps one; None before the first. A shard read to its end
        # is in `finished`.
        self.after = {}
        self.finished = set()
        self.failures = 0
        # Every event sent to the function, and its answer, for the tests.
        self.invocations = []

    def shards(self):
        """The stream's shards, parents before children."""
        shards, start = [], {}
        while True:
            description = self.streams.describe_stream(StreamArn=self.stream_arn, **start)["StreamDescription"]
            shards += description["Shards"]
            if not description.get("LastEvaluatedShardId"):
                return shards
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}

    def readable(self):
        """The shards with records left to read whose parent is read to its end."""
        known = set()
        for shard in self.shards():
            known.add(shard["ShardId"])
            parent = shard.get("ParentShardId")
            if shard["ShardId"] not in self.finished and (parent not in known or parent in self.finished):
                yield shard["ShardId"]

    def _read(self, limit):
        """The next records of the first readable shard that has some: (shard, records)."""
        for shard in self.readable():
            # Every read starts from a fresh iterator after the last record done.
            after = self.after.get(shard)
            if after is None:
                position = {"ShardIteratorType": "TRIM_HORIZON"}
            else:
                position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard, **position
            )["ShardIterator"]
            answer = self.streams.get_records(ShardIterator=iterator, Limit=limit)
            if answer["Records"]:
                return shard, answer["Records"]
            if not answer.get("NextShardIterator"):
                # A closed shard read to its end: its children come next.
                self.finished.add(shard)
        return None, []

    def skip_to_end(self):
        """Marks everything in the stream so far as done (StartingPosition LATEST)."""
        while True:
            shard, records = self._read(1000)
            if not records:
                return
            self.after[shard] = records[-1]["dynamodb"]["SequenceNumber"]

    def lambda_record(self, record):
        """A stream record as Lambda hands it to the function."""
        change = lambda_json(record["dynamodb"])
        change.setdefault("StreamViewType", self.view_type)
        name, identity = record["eventName"], record.get("userIdentity")
        if name == "UNKNOWN_TO_SDK_VERSION" and "OldImage" in change and "NewImage" not in change:
            name, identity = "REMOVE", TTL_SERVICE
        built = {
            "eventID": record["eventID"],
            "eventName": name,
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": change,
            "eventSourceARN": self.stream_arn,
        }
        if identity:
            built["userIdentity"] = lambda_json(identity)
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
        shard, read = self._read(self.batch_size)
        records = [self.lambda_record(r) for r in read]
        if not records:
            return 0
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        wanted = [r for r in records if self.passes(r)]
        first = self.first_not_done(wanted) if wanted else None
        if first is None:
            self.after[shard], self.failures = sequence[-1], 0
            return len(records)
        self.failures += 1
        if 0 <= self.max_retries < self.failures:
            print(
                f"stream_pump: gave up on records {sequence[0]}..{sequence[-1]} after "
                f"{self.max_retries} retries (Lambda: a record of them in the OnFailure queue)",
                file=sys.stderr,
            )
            self.after[shard], self.failures = sequence[-1], 0
            return len(records)
        # Lambda resumes at the reported record: everything before it is done.
        done = [s for s in sequence if int(s) < int(first)]
        if done:
            self.after[shard], self.failures = done[-1], 0
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
