"""Helpers for the filter-engine end-to-end tests (test_check.py)."""
import gzip
import os
import subprocess

from conftest import QUELL_BIN, ROOT

DATA = os.path.join(ROOT, "tests", "data", "lists")
MINI = os.path.join(DATA, "mini.txt")
UBO_ASSETS = ("/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/"
              "uBlock0@raymondhill.net/assets/")
EASYLIST = UBO_ASSETS + "thirdparties/easylist/easylist.txt"
EASYPRIVACY = UBO_ASSETS + "thirdparties/easylist/easyprivacy.txt"
ALL5 = [EASYLIST, EASYPRIVACY] + [UBO_ASSETS + "ublock/" + f
                                  for f in ("filters.min.txt", "privacy.min.txt", "badware.min.txt")]


def quell(*args, input=None, timeout=120):
    """Runs the quell binary; returns the CompletedProcess (text mode)."""
    return subprocess.run([QUELL_BIN] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout)


def fields(out):
    """'key: value' lines of `quell check` into a dict."""
    d = {}
    for line in out.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            d[k] = v
    return d


def requests_dev():
    """The request set (url, type, page) as one TSV string."""
    with gzip.open(os.path.join(DATA, "requests-dev.tsv.gz"), "rt") as f:
        return f.read()


def ubo_verdicts(name="ubo-el-ep.verdicts"):
    """uBO's matchRequest() results for requests_dev(), made by
    bench/ubo-verdicts.mjs: 0 none, 1 block, 2 exception.  ubo-el-ep:
    EasyList+EasyPrivacy; ubo-all5: the five lists, "!#if" resolved by uBO's
    preparser in quell's environment (UBO_PREPARSE="ublock html_filtering
    user_stylesheet ipaddress")."""
    with open(os.path.join(DATA, name)) as f:
        return [int(x) for x in f.read().split()]
