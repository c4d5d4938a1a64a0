"""A failure notification for the werkregio deployments, as a Prefect automation (docs/scheduling.md).

Once per Prefect server, with a notification block made beforehand (UI: *Blocks*; a Slack webhook, an e-mail
server, a custom webhook):

    .venv/bin/python -m flows.notifications slack-webhook/werkregio-alerts

creates (or replaces) the automation *werkregio run failed*: when a flow run tagged ``werkregio`` (both
deployments in prefect.yaml are) ends Failed or Crashed, the block sends a message naming the run, its state
and message. A nightly run that Prefect retries is not Failed until its last attempt has failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from prefect.automations import Automation

NAME = "werkregio run failed"
TAG = "werkregio"
SUBJECT = "werkregio: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}"
BODY = (
    "The werkregio {{ flow.name }} run {{ flow_run.name }} ({{ flow_run.id }}) ended {{ flow_run.state.name }}:\n"
    "{{ flow_run.state.message }}\n\n"
    "The published warehouse is unchanged unless it says otherwise; `werkregio status` shows the run and what a "
    "rerun does."
)


def failure_notification(block_document_id: UUID) -> Automation:
    """The automation: a Failed or Crashed flow run tagged ``werkregio`` -> the notification block sends a message."""
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification

    return Automation(
        name=NAME,
        description="Sends a message when a run of the werkregio deployments (tag werkregio) fails or crashes.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


def create(block: str) -> UUID:
    """Create the automation on the Prefect API of the settings, sending through ``block`` ('type-slug/name');
    an automation of the same name is replaced. Its id."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block.partition("/")
    if not slug or not name:
        raise ValueError(f"{block!r} is not a block as TYPE/NAME, such as slack-webhook/werkregio-alerts")
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name, block_type_slug=slug, include_secrets=False)
        except ObjectNotFound:
            raise ValueError(f"no {slug} block named {name!r} on {client.api_url}: create it first (docs/scheduling.md)") from None
        for old in client.read_automations_by_name(NAME):
            client.delete_automation(old.id)
    return failure_notification(document.id).create().id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.notifications", description=__doc__.split("\n\n")[0])
    parser.add_argument("block", help="the notification block as TYPE/NAME, e.g. slack-webhook/werkregio-alerts")
    args = parser.parse_args(argv)
    try:
        print(f"created the automation {NAME!r}: {create(args.block)}")
    except ValueError as err:
        print(f"python -m flows.notifications: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
