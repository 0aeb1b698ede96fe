#!/usr/bin/env python3
"""A real sd_notify receiver for tests: binds a unix datagram socket (the NOTIFY_SOCKET),
prints one JSON line per datagram with the sender's pid (SCM_CREDENTIALS), and closes any
file descriptors passed along (systemd-notify's BARRIER=1 waits for that, as systemd does)."""
import array, json, os, socket, struct, sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(struct.calcsize("3i")) + socket.CMSG_SPACE(16 * 4))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, _uid, _gid = struct.unpack("3i", data[: struct.calcsize("3i")])
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"pid": pid, "message": msg.decode("utf-8", "replace")}), flush=True)
