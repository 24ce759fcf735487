#!/usr/bin/env python3
"""A minimal authoritative DNS responder for the resolver tests (standard library only).

dnsmasq refuses to start in an unprivileged user namespace (it insists on setgroups), so the
unprivileged suite answers with this instead. It serves A records for the names given on the
command line, answers other types for those names with no data, and everything else NXDOMAIN.

    dns_responder.py --listen 127.0.0.2 --port 53 --record test.example=10.11.12.13 [--ready FILE]

It writes FILE once the socket is bound (so a test can wait for it) and runs until killed.
"""
import argparse
import ipaddress
import pathlib
import socket
import struct

TYPE_A = 1
CLASS_IN = 1


def parse_question(packet):
    """Return (qname in lower case, qtype, qclass, offset after the question)."""
    labels, pos = [], 12
    while True:
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(packet[pos:pos + length].decode("ascii", "replace").lower())
        pos += length
    qtype, qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return ".".join(labels), qtype, qclass, pos + 4


def answer(packet, records):
    """Build the reply to one query packet, or None for something that is not a query."""
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    try:
        name, qtype, qclass, end = parse_question(packet)
    except (IndexError, ValueError, struct.error):
        return None
    rd = flags & 0x0100
    known = name.rstrip(".") in records
    rcode = 0 if known else 3  # NXDOMAIN for names we do not serve
    answers = b""
    ancount = 0
    if known and qtype == TYPE_A and qclass == CLASS_IN:
        addr = ipaddress.IPv4Address(records[name.rstrip(".")]).packed
        # A pointer to the question's name (offset 12), TTL 0 so nothing is cached.
        answers = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, 0, 4) + addr
        ancount = 1
    header = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, ancount, 0, 0)
    return header + packet[12:end] + answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--record", action="append", default=[], help="NAME=IPV4")
    parser.add_argument("--ready", help="file to create once listening")
    args = parser.parse_args()
    records = dict(r.lower().split("=", 1) for r in args.record)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.listen, args.port))
    if args.ready:
        pathlib.Path(args.ready).write_text("ready\n")
    while True:
        packet, peer = sock.recvfrom(4096)
        reply = answer(packet, records)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
