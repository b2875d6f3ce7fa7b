# Drives one Jupyter kernel for kerneltest (Go): the way Jupyter itself does, through jupyter_client's
# KernelManager, so kernelspec, interrupt mode and message protocol are the real ones.
#
# Usage: python3 session.py KERNEL_NAME WORKDIR
# Reads one JSON request per line on stdin:
#   {"code": "...", "timeout": seconds, "interrupt_when": "text", "interrupt_after": seconds}
# and answers one JSON line per request on stdout:
#   {"status": "ok"|"error"|"", "outputs": [...], "seconds": s, "timed_out": bool,
#    "interrupted_at": s or null, "execution_count": n or null}
# Kernel logs go to stderr.
import json
import os
import queue
import signal
import sys
import time

from jupyter_client.manager import KernelManager


def log(*a):
    print("session.py:", *a, file=sys.stderr, flush=True)


def main():
    name, workdir = sys.argv[1], sys.argv[2]
    km = KernelManager(kernel_name=name)
    km.start_kernel(cwd=workdir)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        log("kernel ready:", km.kernel_spec.display_name, "interrupt_mode", km.kernel_spec.interrupt_mode)
        print(json.dumps({"ready": True, "display_name": km.kernel_spec.display_name,
                          "interrupt_mode": km.kernel_spec.interrupt_mode}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            print(json.dumps(execute(km, kc, req)), flush=True)
    finally:
        # A polite shutdown lets GoNB stop gopls and remove its temporary folder; whatever is left in the
        # kernel's process group (jupyter_client starts it in a session of its own) is then killed.
        pid = getattr(getattr(km.provisioner, "process", None), "pid", None)
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
                log("killed what was left of the kernel's process group")
            except (ProcessLookupError, PermissionError):
                pass


def execute(km, kc, req):
    timeout = req.get("timeout", 300)
    when = req.get("interrupt_when")
    after = req.get("interrupt_after")
    msg_id = kc.execute(req["code"])
    start = time.monotonic()
    outputs, seen_text, interrupted_at, timed_out = [], "", None, False
    while True:
        now = time.monotonic() - start
        if interrupted_at is None and ((when and when in seen_text) or (after is not None and now >= after)):
            log("interrupting after %.1fs" % now)
            km.interrupt_kernel()
            interrupted_at = now
        if now > timeout:
            timed_out = True
            break
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "status" and c["execution_state"] == "idle":
            break
        if t == "stream":
            outputs.append({"type": "stream", "name": c["name"], "text": c["text"]})
            seen_text += c["text"]
        elif t in ("display_data", "execute_result", "update_display_data"):
            data = c.get("data", {})
            outputs.append({"type": t, "text": data.get("text/plain", ""), "html": data.get("text/html", ""),
                            "markdown": data.get("text/markdown", "")})
            seen_text += data.get("text/plain", "") + data.get("text/html", "")
        elif t == "error":
            outputs.append({"type": "error", "name": c.get("ename", ""), "text": c.get("evalue", ""),
                            "traceback": "\n".join(c.get("traceback", []))})
    status, count = "", None
    if not timed_out:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                reply = kc.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                status, count = reply["content"]["status"], reply["content"].get("execution_count")
                break
    return {"status": status, "outputs": outputs, "seconds": time.monotonic() - start, "timed_out": timed_out,
            "interrupted_at": interrupted_at, "execution_count": count}


if __name__ == "__main__":
    main()
