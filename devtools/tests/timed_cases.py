"""Test classes for the timing runner's tests to time (not collected: the module's name does not
start with ``test``)."""

import unittest


class Slow(unittest.TestCase):
    def test_one(self):
        pass

    def test_two(self):
        pass


class Quick(unittest.TestCase):
    def test_one(self):
        pass
