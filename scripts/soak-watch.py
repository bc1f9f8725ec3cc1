#!/usr/bin/env python3
"""Soak run of `cxreview watch` (issue 14, 4b): drops one unique PNG per second into a fresh inbox
for SECONDS and samples, every minute, the resident memory, open file descriptors and threads of
the watcher and of its decoder child. Prints one line per sample and a last line with the counts.

Usage: scripts/soak-watch.py SECONDS [CXREVIEW_BINARY] [RUN_FOLDER]
Defaults: .build/release/cxreview, /tmp/cxr-soak. The scan is samples/covid19-3way-test-covid-0105.png,
made unique per drop by a tEXt chunk; every tenth file goes into a subfolder of 100."""
import os, shutil, struct, subprocess, sys, time, zlib

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
secs = int(sys.argv[1])
binary = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.join(repo, ".build/release/cxreview")
root = sys.argv[3] if len(sys.argv) > 3 else "/tmp/cxr-soak"
shutil.rmtree(root, ignore_errors=True)
inbox, reports, staging = root + "/inbox", root + "/reports", root + "/staging"
for d in (inbox, reports, staging):
    os.makedirs(d)
base = open(os.path.join(repo, "samples/covid19-3way-test-covid-0105.png"), "rb").read()


def png(i):
    payload = b"Comment\x00soak %d" % i
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload + struct.pack(">I", zlib.crc32(b"tEXt" + payload) & 0xFFFFFFFF)
    return base[:-12] + chunk + base[-12:]  # before IEND


log = open(root + "/watch.log", "w")
p = subprocess.Popen([binary, "watch", inbox, "--out", reports, "--status-every", "300"], stdout=log, stderr=log, cwd=repo)


def facts(pid):
    st = open(f"/proc/{pid}/status").read()
    get = lambda k: [l.split()[1] for l in st.splitlines() if l.startswith(k + ":")][0]
    return int(get("VmRSS")) // 1024, len(os.listdir(f"/proc/{pid}/fd")), int(get("Threads"))


def children(pid):
    """Children of every thread: the decoder child is started by a worker thread."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return found


def sample(tag):
    rss, fds, threads = facts(p.pid)
    kids = [facts(c) for c in children(p.pid)]
    kid = ", ".join(f"decoder child rss {k[0]} MB fds {k[1]} threads {k[2]}" for k in kids) or "no decoder child yet"
    done = len([n for n in os.listdir(reports) if not n.startswith("summary-")])
    print(f"{time.strftime('%H:%M:%S')} {tag:5} watcher rss {rss} MB fds {fds} threads {threads}; {kid}; reports {done}", flush=True)


time.sleep(8)
sample("start")
t0, i = time.time(), 0
while time.time() - t0 < secs:
    name = f"sub{i // 100}/scan-{i}.png" if i % 10 == 0 else f"scan-{i}.png"
    tmp = f"{staging}/{i}.png"
    open(tmp, "wb").write(png(i))
    os.makedirs(os.path.dirname(f"{inbox}/{name}"), exist_ok=True)
    os.rename(tmp, f"{inbox}/{name}")  # arrives whole, as a well-behaved sender's file
    i += 1
    if i % 60 == 0:
        sample("run")
    time.sleep(max(0, t0 + i - time.time()))
deadline = time.time() + 120
while time.time() < deadline and len([n for n in os.listdir(reports) if not n.startswith("summary-")]) < i:
    time.sleep(1)
sample("end")
print(f"dropped {i} files in {time.time() - t0:.0f} s; reports {len(os.listdir(reports))}", flush=True)
p.terminate()
p.wait()
print("watcher exit code", p.returncode, flush=True)
