"""Python workload for the agent end-to-end test: spends its time in uniprof_python_hot."""
import ctypes
import sys
import time

# Name the main thread, as the test looks for it: prctl(PR_SET_NAME) sets the kernel's comm.
PR_SET_NAME = 15
ctypes.CDLL(None).prctl(PR_SET_NAME, b"uprof-python", 0, 0, 0)


def uniprof_python_hot(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    uniprof_python_hot(100_000)
