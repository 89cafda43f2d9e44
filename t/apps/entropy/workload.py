"""Test app: what a restored copy must not share with its siblings."""
import os
import random
import time


def handle(event):
    return {"urandom": os.urandom(16).hex(),
            "random": random.random(),
            "time": time.time()}
