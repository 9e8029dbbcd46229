"""hello-py: a Lambda-style handler in Python, made a Waygate handler component
(wit/handler.wit) by componentize-py. Greets `name` (query string, or the direct
payload's "name"), with the greeting from the GREETING environment variable."""

import json
import os

import wit_world
from componentize_py_types import Err


def handler(event, context):
    """As a Lambda handler: the event as a dict; returns what becomes the JSON answer."""
    query = event.get("queryStringParameters") or {}
    who = query.get("name") or event.get("name") or "world"
    greeting = {
        "message": f"Hello, {who}!",
        "greeting_from": os.environ.get("GREETING", "Waygate"),
        "version": context.function_version,
        "request_id": context.request_id,
        "lang": "python",
    }
    print(f"hello-py greeted {who}")
    if "httpMethod" in event:  # through an API's route: a proxy response
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(greeting)}
    return greeting


class WitWorld(wit_world.WitWorld):
    """The glue between the WIT world and `handler`: JSON text in, JSON text out; an
    exception becomes the invocation's error."""

    def handler(self, event: str, context: wit_world.Context) -> str:
        try:
            return json.dumps(handler(json.loads(event), context))
        except Exception as e:  # noqa: BLE001 - every failure is the function's error
            raise Err(f"{type(e).__name__}: {e}")
