# Jupyter's kernel conformance suite (jupyter_kernel_test) against the installed "Go (gonbgpu)" kernel,
# with Go samples for every test it has, and the requests it has no test for (history with cells that
# print, comm_info, interrupt, shutdown) checked the same way: each reply validated against the
# protocol's schema (jupyter_kernel_test.msgspec_v5).
#
# Run by TestConformance (conformance_test.go) with the checkout's .venv python and JUPYTER_DATA_DIR set
# to a private install. Prints one JSON line per test (and per failed subtest) on stdout:
#   {"test": "test_error", "outcome": "ok"|"fail"|"error"|"skip", "detail": "..."}
# and exits 0 when every line was printed. The Go test decides what passes.
import json
import queue
import sys
import time
import unittest

import jupyter_kernel_test as jkt
from jupyter_client.manager import start_new_kernel
from jupyter_kernel_test.msgspec_v5 import validate_message

# Hang guards, not timings: a cell compiles Go, and a first cell that imports GoMLX can take minutes on
# a loaded two-core machine. The suite's own 15 s (and its reply waits without any limit) are replaced.
CELL_TIMEOUT = 300
REPLY_TIMEOUT = 120

GO_IMPORTS = 'import (\n\t"fmt"\n\t"os"\n\t"time"\n)\n'


class GonbgpuKernelTests(jkt.KernelTests):
    kernel_name = "gonbgpu"
    language_name = "go"
    file_extension = ".go"

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=REPLY_TIMEOUT)
        # Declarations stay for every later cell: the imports the samples use, compiled once here.
        reply = cls.kc.execute_interactive(GO_IMPORTS + "%%\nfmt.Println(time.Second, os.Args[0] != \"\")",
                                           timeout=CELL_TIMEOUT, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    @classmethod
    def tearDownClass(cls):
        if cls.kc is not None:
            cls.kc.stop_channels()
        if cls.km is not None and cls.km.has_kernel:
            cls.km.shutdown_kernel()

    def execute_helper(self, code, timeout=CELL_TIMEOUT, **kw):
        return super().execute_helper(code, timeout=timeout, **kw)

    def get_non_kernel_info_reply(self, timeout=None):
        return super().get_non_kernel_info_reply(timeout=REPLY_TIMEOUT if timeout is None else timeout)

    code_hello_world = '%%\nfmt.Println("hello, world")'
    code_stderr = '%%\nfmt.Fprintln(os.Stderr, "to stderr")'

    # A panicking cell: one error message, status "error".
    code_generate_error = ('func mustPositive(n int) int {\n\tif n <= 0 {\n\t\tpanic(fmt.Sprintf("mustPositive: got %d", n))'
                           '\n\t}\n\treturn n\n}\n\n%%\nfmt.Println(mustPositive(-3))')

    # Every MIME type gonbgpu's display helpers and GoNB's emit (kernel.Display: text/html with its
    # text/plain twin; kernel.ShowMarkdown: text/markdown; kernel.ShowImage and gonbui.DisplayPng: image/png).
    code_display_data = [
        {"code": 'import "github.com/gonbgpu/gonbgpu/kernel"\n%%\nkernel.Display("<b>bold</b>", "bold")', "mime": "text/html"},
        {"code": '%%\nkernel.Display("<b>bold</b>", "bold")', "mime": "text/plain"},
        {"code": '%%\nkernel.ShowMarkdown("**bold**")', "mime": "text/markdown"},
        {"code": ('import (\n\t"image"\n\t"github.com/gonbgpu/gonbgpu/kernel"\n)\n%%\n'
                  '_ = kernel.ShowImage(image.NewGray(image.Rect(0, 0, 2, 2)), "a 2×2 black square")'),
         "mime": "image/png"},
        # GoNB's own call, as GoNB's documentation says to use it: gonbui.Sync before the cell ends, without
        # which GoNB may close its pipe from the cell before reading the picture (about 1 run in 30 on a
        # loaded machine; README, "Known limitations").
        {"code": ('import (\n\t"bytes"\n\t"image"\n\t"image/png"\n\t"github.com/janpfeifer/gonb/gonbui"\n)\n%%\n'
                  'defer gonbui.Sync()\nvar b bytes.Buffer\n_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)))\ngonbui.DisplayPng(b.Bytes())'),
         "mime": "image/png"},
    ]

    completion_samples = [{"text": 'import "strings"\n%%\nstrings.ToUp'}]
    code_inspect_sample = 'import "strings"\n%%\nstrings.ToUpper'

    complete_code_samples = [
        '%%\nfmt.Println("hi")',
        'func double(x int) int {\n\treturn 2 * x\n}',
        'import "fmt"\n\n%%\nfor i := 0; i < 3; i++ {\n\tfmt.Println(i)\n}',
        '!echo hello',
        '',
    ]
    incomplete_code_samples = [
        'func double(x int) int {',
        '%%\nxs := []int{\n\t1, 2,',
        '%%\nfmt.Println(1 +',
        '%%\ns := `a raw string\nover lines',
        '%%\n/* a comment',
    ]
    invalid_code_samples = [
        '}',
        '%%\nfmt.Println(1))',
        '%%\nfmt.Println("unterminated\n)',
        '%%\nx := [2]int{1, 2)',
    ]

    # The suite's history test needs code_execute_result, which Go cells never produce (see
    # TestConformance's list of skips); test_history_go below makes the same checks with cells that print.
    supported_history_operations = ("tail", "range", "search")
    history_cells = ['%%\nfmt.Println("history 1")', '%%\nfmt.Println("history 2")', '%%\nfmt.Println("history 1")']

    def test_history_go(self):
        codes = self.history_cells
        n = len(codes)
        reply = self.history_helper(codes, output=False, raw=True, hist_access_type="tail", n=n)
        hist = reply["content"]["history"]
        self.assertEqual(len(hist), n)
        self.assertEqual(len(hist[0]), 3)
        self.assertEqual(codes, [h[2] for h in hist])
        session, start = hist[0][0:2]
        reply = self.history_helper(codes, output=True, raw=True, hist_access_type="tail", n=n)
        self.assertEqual(len(reply["content"]["history"][0][2]), 2)
        reply = self.history_helper(codes, output=False, raw=True, hist_access_type="range",
                                    session=session, start=start, stop=start + 1)
        self.assertEqual([h[:2] for h in reply["content"]["history"]], [[session, start]])
        reply = self.history_helper(codes, output=False, raw=True, hist_access_type="search",
                                    pattern='*"history 1"*')
        self.assertGreaterEqual(len(reply["content"]["history"]), 1)
        reply = self.history_helper(codes, output=False, raw=True, hist_access_type="search",
                                    pattern='*"history 1"*', unique=True)
        self.assertEqual(len(reply["content"]["history"]), 1)
        reply = self.history_helper(codes, output=False, raw=True, hist_access_type="search",
                                    pattern='*history ?*', n=3)
        self.assertEqual(len(reply["content"]["history"]), 3)

    def shell_request(self, msg_type, content):
        msg = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def control_request(self, msg_type, content):
        msg = self.kc.session.msg(msg_type, content)
        self.kc.control_channel.send(msg)
        return msg["header"]["msg_id"]

    def reply_to(self, channel, msg_id, timeout=REPLY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = channel.get_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        raise AssertionError("no reply to %s within %ds" % (msg_id, timeout))

    def test_comm_info(self):
        self.flush_channels()
        msg_id = self.shell_request("comm_info_request", {})
        reply = self.reply_to(self.kc.shell_channel, msg_id)
        validate_message(reply, "comm_info_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "ok")

    def test_interrupt(self):
        # A cell that sleeps for ten minutes, interrupted by an interrupt_request on the control channel
        # (the kernelspec's interrupt_mode is "message"): the interrupt is answered, and the cell ends.
        self.flush_channels()
        msg_id = self.kc.execute('%%\nfmt.Println("sleeping")\ntime.Sleep(10 * time.Minute)')
        deadline = time.monotonic() + CELL_TIMEOUT
        while time.monotonic() < deadline:
            msg = self.kc.get_iopub_msg(timeout=CELL_TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        int_id = self.control_request("interrupt_request", {})
        reply = self.reply_to(self.kc.control_channel, int_id)
        validate_message(reply, "interrupt_reply", int_id)
        self.assertEqual(reply["content"]["status"], "ok")
        reply = self.reply_to(self.kc.shell_channel, msg_id, timeout=REPLY_TIMEOUT)
        validate_message(reply, "execute_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.flush_channels()

    def test_zz_shutdown(self):
        # Last (unittest runs tests by name): a shutdown_request on the control channel is answered,
        # and the kernel process ends by itself.
        self.flush_channels()
        msg_id = self.control_request("shutdown_request", {"restart": False})
        reply = self.reply_to(self.kc.control_channel, msg_id)
        validate_message(reply, "shutdown_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self.km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertFalse(self.km.is_alive(), "the kernel still runs %ds after its shutdown_reply" % REPLY_TIMEOUT)


class IopubWelcome(jkt.IopubWelcomeTests):
    kernel_name = "gonbgpu"


class Result(unittest.TestResult):
    """Prints one JSON line per test outcome, and per subtest that did not pass."""

    def emit(self, test, outcome, detail=""):
        line = {"outcome": outcome, "detail": detail}
        if isinstance(test, unittest.case._SubTest):
            line["test"], line["subtest"] = test.test_case.id().rsplit(".", 1)[-1], test._subDescription()
        elif isinstance(test, unittest.suite._ErrorHolder):
            line["test"] = test.description  # setUpClass or tearDownClass
        else:
            line["test"] = test.id().rsplit(".", 1)[-1]
        print(json.dumps(line), flush=True)

    def startTest(self, test):
        super().startTest(test)
        print("conformance.py: running", test.id(), file=sys.stderr, flush=True)

    def addSuccess(self, test):
        self.emit(test, "ok")

    def addFailure(self, test, err):
        self.emit(test, "fail", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self.emit(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self.emit(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.emit(subtest, "fail", self._exc_info_to_string(err, test))


if __name__ == "__main__":
    load = unittest.defaultTestLoader.loadTestsFromTestCase
    unittest.TestSuite([load(GonbgpuKernelTests), load(IopubWelcome)]).run(Result())
