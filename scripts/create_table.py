"""Create the local table from template.yaml's definition, so the emulator and AWS
never disagree about keys, billing or TTL. Idempotent."""

import os
import sys

import boto3
import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub, !GetAtt … as plain values: only literal properties are used."""


CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main() -> None:
    template_path, table_name = sys.argv[1], os.environ["TABLE_NAME"]
    with open(template_path) as f:
        template = yaml.load(f, Loader=CloudFormationLoader)
    tables = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table"
    ]
    if len(tables) != 1:
        sys.exit(f"expected one AWS::DynamoDB::Table in {template_path}, found {len(tables)}")
    table = tables[0]

    # The stream, as the template declares it (publish-events reads it).
    stream = table.get("StreamSpecification")
    streams = {"StreamSpecification": {"StreamEnabled": True, **stream}} if stream else {}

    client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
    if table_name in client.list_tables()["TableNames"]:
        print(f"table {table_name} exists")
        return
    client.create_table(
        TableName=table_name,
        BillingMode=table["BillingMode"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        **streams,
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification=table["TimeToLiveSpecification"],
    )
    stream_note = f", stream {stream['StreamViewType']}" if stream else ""
    print(f"table {table_name} created (TTL on {table['TimeToLiveSpecification']['AttributeName']}{stream_note})")


if __name__ == "__main__":
    main()
