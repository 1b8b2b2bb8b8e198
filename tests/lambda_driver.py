"""Run inside a fresh virtualenv whose only code is the unpacked Lambda package (PYTHONPATH): read a JSON list
of {"function", "event"} on stdin, call each handler as Lambda would, write the answers as JSON to the file
named by the first argument, else on stdout (which on Lambda is the log: metric lines go there).

Like Lambda's bootstrap, it puts a handler on the root logger before importing the function's module.
Nothing from the repository or the test virtualenv may be importable here; the first answer says where
flask, psycopg and our code were loaded from.
"""

import json
import logging
import os
import platform
import sys


class _Context:
    function_name = "ttfd-test"
    aws_request_id = "req"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))  # stands in for Lambda's own
    os.environ["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:9001"
    calls = json.load(sys.stdin)
    import flask
    import psycopg

    from functions import aws

    answers = [
        {
            "flask": flask.__file__,
            "psycopg": psycopg.__file__,
            "aws": aws.__file__,
            "root_handlers": len(logging.getLogger().handlers),
            "python": platform.python_version(),
        }
    ]
    for call in calls:
        handler = getattr(aws, call["function"])
        answers.append(handler(call["event"], _Context()))
    answers[0]["root_handlers_after"] = len(logging.getLogger().handlers)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            json.dump(answers, out)
    else:
        json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
