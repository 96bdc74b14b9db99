#!/usr/bin/env python3
"""Splits each request of a one-connection run (wrk -t1 -c1) into its steps, from a dump of
    perf record -a -e raw_syscalls:sys_enter,raw_syscalls:sys_exit,sched:sched_switch,
                      sched:sched_wakeup,block:block_rq_issue,block:block_rq_complete
    perf script -F comm,tid,cpu,time,event,trace > DUMP
Steps: wrk's write -> libdispatch's epoll thread returns (A) -> a worker reads the request (B)
-> parse, verify, encode, enqueue until the writer thread is woken (C) -> the writer runs (D)
-> fstatfs and pwrite (E) -> fdatasync (F; F1 to the first block request, F2 block requests,
F3 last completion to the return) -> sendto of the 200 (G, H) -> wrk has read it (I).
When the commit runs on the reading thread, C ends at the pwrite and D is 0.

    bench/one-connection-split.py DUMP DAEMON_TIDS(comma-separated) WRK_TID [REQUEST_BYTES=586] [ANSWER_BYTES=75]"""
import re, sys, statistics, collections
dump, dtids, wtid = sys.argv[1], set(int(x) for x in sys.argv[2].split(',')), int(sys.argv[3])
reqb = int(sys.argv[4]) if len(sys.argv) > 4 else 586
ansb = int(sys.argv[5]) if len(sys.argv) > 5 else 75
line_re = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
ev = []
for line in open(dump):
    m = line_re.match(line)
    if not m: continue
    comm, tid, cpu, t, name, rest = m.groups()
    ev.append((float(t) * 1e6, int(tid), int(cpu), name, rest))
# request windows: wrk write enter of the request
starts = [i for i, e in enumerate(ev) if e[1] == wtid and e[3] == 'raw_syscalls:sys_enter' and e[4].startswith('NR 1 (')]
rows = []
for k in range(len(starts) - 1):
    seg = ev[starts[k]:starts[k + 1]]
    t0 = seg[0][0]
    r = {}
    wake = collections.Counter()
    sysc = collections.Counter()
    blk = []
    writer = None
    for (t, tid, cpu, name, rest) in seg:
        if name == 'raw_syscalls:sys_exit':
            mm = re.match(r'NR (-?\d+) = (-?\d+)', rest)
            if not mm: continue
            nr, ret = int(mm.group(1)), int(mm.group(2))
            if tid in dtids:
                sysc[nr] += 1
                if nr == 232 and 'mgr' not in r: r['mgr'] = t
                if nr == 0 and ret == reqb and 'read' not in r: r['read'] = t; r['worker'] = tid
                if nr == 75 and 'sync_x' not in r: r['sync_x'] = t
                if nr == 44 and 'send_x' not in r: r['send_x'] = t
                if nr == 202 and tid == r.get('writer') and 'writer_run' not in r and 'wake_writer' in r: r['writer_run'] = t
            elif tid == wtid and nr == 0 and ret == ansb and 'answer' not in r:
                r['answer'] = t
        elif name == 'raw_syscalls:sys_enter' and tid in dtids:
            mm = re.match(r'NR (-?\d+)', rest)
            if not mm: continue
            nr = int(mm.group(1))
            if nr == 18 and 'pwrite' not in r: r['pwrite'] = t; r['writer'] = tid
            if nr == 75 and 'sync' not in r: r['sync'] = t; r['writer'] = tid
            if nr == 44 and 'send' not in r: r['send'] = t; r['sender'] = tid
        elif name == 'sched:sched_wakeup':
            pid = int(re.search(r' pid=(\d+)', rest).group(1))
            if pid in dtids: wake[pid] += 1
            if pid in dtids and 'read' in r and tid == r['worker'] and 'wake_writer' not in r and 'pwrite' not in r:
                r['wake_writer'] = t; r['writer'] = pid
        elif name == 'block:block_rq_issue' or name == 'block:block_rq_complete':
            blk.append((t, name.split('_')[-1], rest.split()[1]))
    if 'sync' in r and 'sync_x' in r:
        inside = [b for b in blk if r['sync'] <= b[0] <= r['sync_x']]
        iss = [b for b in inside if b[1] == 'issue']; com = [b for b in inside if b[1] == 'complete']
        if iss and com:
            r['blk_first_issue'] = iss[0][0] - r['sync']
            r['blk_last_complete_to_exit'] = r['sync_x'] - com[-1][0]
            r['blk_span'] = com[-1][0] - iss[0][0]
    if 'pwrite' in r and r.get('writer') == r.get('worker'):
        r['wake_writer'] = r['writer_run'] = r['pwrite']
    need = ['mgr', 'read', 'wake_writer', 'writer_run', 'pwrite', 'sync', 'sync_x', 'send', 'send_x', 'answer']
    if not all(x in r for x in need): continue
    if not (r['mgr'] < r['read'] < r['wake_writer'] <= r['writer_run'] <= r['pwrite'] < r['sync'] < r['sync_x'] < r['send'] < r['send_x'] < r['answer']): continue
    rows.append(dict(
        A_loopback_to_epoll=r['mgr'] - t0,
        B_epoll_to_worker_read=r['read'] - r['mgr'],
        C_parse_verify_enqueue=r['wake_writer'] - r['read'],
        D_wake_writer=r['writer_run'] - r['wake_writer'],
        E_writer_to_fdatasync=r['sync'] - r['writer_run'],
        F_fdatasync=r['sync_x'] - r['sync'],
        G_sync_to_send=r['send'] - r['sync_x'],
        H_send=r['send_x'] - r['send'],
        I_send_to_wrk_read=r['answer'] - r['send_x'],
        total=r['answer'] - t0,
        daemon_wakeups=sum(wake.values()),
        syscalls=sum(sysc.values()),
        sent_by_writer=1.0 if r['sender'] == r['writer'] else 0.0,
        F1_sync_to_first_io=r.get('blk_first_issue', float('nan')),
        F2_io_span=r.get('blk_span', float('nan')),
        F3_last_io_done_to_return=r.get('blk_last_complete_to_exit', float('nan')),
        blk_reqs=sum(1 for b in blk if b[1] == 'issue'),
        blk_meta=sum(1 for b in blk if b[1] == 'issue' and 'M' in b[2]),
    ))
print(f"requests split: {len(rows)} of {len(starts) - 1}")
keys = list(rows[0].keys())
print(f"{'step':28s} {'p50 µs':>8s} {'mean µs':>8s} {'p90 µs':>8s}")
for key in keys:
    v = sorted(x[key] for x in rows if x[key] == x[key])
    if not v: continue
    print(f"{key:28s} {v[len(v)//2]:8.1f} {statistics.mean(v):8.1f} {v[len(v)*9//10]:8.1f}")
