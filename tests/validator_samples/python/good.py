"""Self-check sample: clean Python for pyflakes."""

import json


def dump(value):
    return json.dumps(value)
