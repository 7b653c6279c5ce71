"""Self-check sample: an unused import and an undefined name."""

import os


def dump(value):
    return json.dumps(value)
