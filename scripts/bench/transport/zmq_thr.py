#!/usr/bin/env python3
"""Throughput peer with pyzmq for scripts/bench-transport (same protocol as zmq_thr.c).

    zmq_thr.py recv BIND COUNT SIZE HWM   -> prints "ENDPOINT e", then "RESULT ..."
    zmq_thr.py send CONNECT COUNT SIZE HWM
"""
import sys
import time

import zmq


def main() -> int:
    if len(sys.argv) != 6:
        print(f"usage: {sys.argv[0]} recv|send ENDPOINT COUNT SIZE HWM", file=sys.stderr)
        return 2
    mode, endpoint = sys.argv[1], sys.argv[2]
    count, size, hwm = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    ctx = zmq.Context()
    if mode == "recv":
        s = ctx.socket(zmq.PULL)
        s.setsockopt(zmq.RCVHWM, hwm)
        s.bind(endpoint)
        print("ENDPOINT", s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
        recv = s.recv
        recv()
        start = time.perf_counter()
        for _ in range(count - 1):
            if len(recv()) != size:
                print("zmq_thr.py: bad size", file=sys.stderr)
                return 1
        seconds = time.perf_counter() - start
        rate = (count - 1) / seconds
        print(f"RESULT impl=pyzmq size={size} count={count} seconds={seconds:.4f} "
              f"msgs_per_s={rate:.0f} mib_per_s={rate * size / 1048576:.1f}", flush=True)
        s.close()
    else:
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.SNDHWM, hwm)
        s.setsockopt(zmq.LINGER, -1)
        s.connect(endpoint)
        payload = b"\x5a" * size
        send = s.send
        for _ in range(count):
            send(payload)
        s.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
