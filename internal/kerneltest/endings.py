# Starts the "Go (gonbgpu)" kernel through jupyter_client and ends it one way, for TestKernelEndings
# (endings_test.go), which counts what is left running afterwards.
#
# Usage: python endings.py WAY WORKDIR KERNEL_LOG
#   WAY is "polite" (shutdown_kernel()), "forced" (shutdown_kernel(now=True)) or "client-dies" (this
#   process waits to be killed by the test, leaving the kernel without the client that started it).
# Before ending the kernel it makes it busy in every way: a cell has run, a completion has started gopls,
# and a cell is running (sleeping for ten minutes). It prints JSON lines on stdout:
#   {"kernel_pid": N, "cell_pid": M}   once the kernel is in that state
#   {"ended": true}                     after shutdown_kernel returned (polite and forced)
# Between the two it waits for a line on stdin: the test looks at the kernel's processes while they all
# still run, then lets it end the kernel (without the wait, a polite shutdown raced the test's look).
import json
import sys
import time

from jupyter_client.manager import KernelManager

TIMEOUT = 300  # a hang guard for a cell's compilation on a loaded machine


def main():
    way, workdir, log_path = sys.argv[1:4]
    log = open(log_path, "ab")
    km = KernelManager(kernel_name="gonbgpu")
    km.start_kernel(cwd=workdir, stdout=log, stderr=log)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)

    reply = kc.execute_interactive('import (\n\t"fmt"\n\t"os"\n\t"time"\n)\n\n%%\nfmt.Println("ready")',
                                   timeout=TIMEOUT, output_hook=lambda m: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    code = 'import "strings"\n%%\nstrings.ToUp'
    msg_id = kc.complete(code, len(code))  # gopls starts for this
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    # A cell that is still running when the kernel ends.
    msg_id = kc.execute('%%\nfmt.Printf("cell pid %d\\n", os.Getpid())\ntime.Sleep(10 * time.Minute)')
    cell_pid = None
    deadline = time.monotonic() + TIMEOUT
    while cell_pid is None and time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            text = msg["content"]["text"]
            if text.startswith("cell pid "):
                cell_pid = int(text.split()[2])
    print(json.dumps({"kernel_pid": km.provisioner.process.pid, "cell_pid": cell_pid}), flush=True)

    if way == "client-dies":
        time.sleep(TIMEOUT)  # the test kills this process
        return
    sys.stdin.readline()  # the test has looked
    kc.stop_channels()
    km.shutdown_kernel(now=(way == "forced"))
    print(json.dumps({"ended": True}), flush=True)


if __name__ == "__main__":
    main()
