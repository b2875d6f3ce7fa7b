// Package kernelproxy sits between Jupyter and GoNB and answers, on GoNB's behalf, what GoNB leaves
// unanswered.
//
// GoNB v0.11.5 ignores is_complete_request and history_request and sends no comm_info_reply
// (internal/dispatcher/dispatcher.go:132-133 and :225-226, :151 and :230 for history; comms.go:40-41),
// so a client that asks waits forever: `jupyter console` on Enter, JupyterLab's console, Jupyter's
// conformance suite. It sends the replies to control-channel requests (interrupt_request,
// shutdown_request) on the shell socket (internal/kernel/messages.go:334-345: MessageImpl.Reply always
// uses ShellSocket), where a client waiting on the control channel never sees them. And a panicking
// cell reaches the front end as many stderr pieces, an HTML block and an error saying "exit status 2"
// (see folder).
//
// The proxy binds the sockets of Jupyter's connection file itself, and gives GoNB a connection file of
// its own: ipc sockets in a private folder (no TCP port, no race for one), the same key. It then relays
// every message in both directions byte for byte, except that it
//   - answers is_complete_request (IsComplete), history_request (from the cells it saw run) and
//     comm_info_request (from the comm_open and comm_close messages it relayed) itself;
//   - sends each reply on the channel its request came on;
//   - publishes, on iopub, a panic as one error message (folder), and puts the panic into the
//     execute_reply's error fields too (nbclient and papermill report those);
//   - relays a reply to an execute, inspect, complete or kernel_info request only once GoNB's "idle"
//     for it has been published (at most replyWait later), so that a client that reads the reply and
//     then the outputs (the conformance suite, which allows 0.1 s between two outputs) finds them all;
//   - answers the heartbeat itself, for as long as it runs (GoNB's heartbeat is a goroutine of its own
//     that answers whatever the kernel does; the proxy ends when GoNB does).
//
// GONBGPU_KERNEL_DEBUG=1 in the kernel's environment logs every message relayed or answered (type, id,
// parent) on the kernel's standard error.
//
// This is sound for ZeroMQ's patterns: shell, control and stdin are ROUTER sockets on both sides, and the
// proxy's DEALER keeps the client's routing identity in the frames it passes on, as zmq_proxy does, so
// GoNB's replies find their way back; GoNB asks for input on stdin with the identities of the
// execute_request, whose first is the proxy's shell DEALER, so the stdin DEALER carries the same
// identity. Every message the proxy relays keeps GoNB's or the client's signature; the ones it writes
// or rewrites are signed with the connection's key.
package kernelproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// identity is the routing identity of the proxy's DEALER sockets towards GoNB.
const identity = "gonbgpu-kernel"

// replyWait bounds how long a reply waits for GoNB's "idle" of its request.
const replyWait = 5 * time.Second

// busyRequests are the requests GoNB brackets with busy and idle (dispatcher.BusyMessageTypes).
var busyRequests = []string{"execute_request", "inspect_request", "complete_request", "kernel_info_request"}

// Proxy is a running proxy.
type Proxy struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    io.Writer
	s      signer
	sess   string

	fShell, fControl, fStdin, fIOPub, fHB zmq4.Socket
	bShell, bControl, bStdin, bIOPub      zmq4.Socket
	sendMu                                map[zmq4.Socket]*sync.Mutex

	hist *history
	fold *folder

	mu       sync.Mutex
	routes   map[string]*route   // requests relayed to GoNB, by msg_id, until their replies are relayed
	idle     map[string]*pending // busy requests relayed to GoNB, by msg_id, until their replies are relayed
	folded   map[string]map[string]any
	busy     int               // requests in idle whose GoNB's idle has not come
	comms    map[string]string // open comm id → target name
	wg       sync.WaitGroup
	debug    bool // GONBGPU_KERNEL_DEBUG set: log every message relayed
	closeErr error
}

// Start binds front's sockets (Jupyter's connection file) and connects to GoNB's, back (which GoNB
// binds: it may start after the proxy, which keeps trying until ctx ends). Log receives one line per
// problem.
func Start(ctx context.Context, front, back *ConnInfo, log io.Writer) (*Proxy, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &Proxy{ctx: ctx, cancel: cancel, log: log, s: signer{[]byte(front.Key)}, sess: newID(),
		hist: newHistory(), routes: map[string]*route{}, idle: map[string]*pending{},
		folded: map[string]map[string]any{}, comms: map[string]string{}, sendMu: map[zmq4.Socket]*sync.Mutex{}}
	p.fold = newFolder(p.s)
	p.debug = os.Getenv("GONBGPU_KERNEL_DEBUG") != ""
	p.fShell, p.fControl, p.fStdin = zmq4.NewRouter(ctx), zmq4.NewRouter(ctx), zmq4.NewRouter(ctx)
	p.fIOPub, p.fHB = zmq4.NewPub(ctx), zmq4.NewRep(ctx)
	for _, b := range []struct {
		s    zmq4.Socket
		port int
	}{{p.fShell, front.ShellPort}, {p.fControl, front.ControlPort}, {p.fStdin, front.StdinPort}, {p.fIOPub, front.IOPubPort}, {p.fHB, front.HBPort}} {
		if err := b.s.Listen(front.Endpoint(b.port)); err != nil {
			p.Close()
			return nil, fmt.Errorf("binding %s: %w", front.Endpoint(b.port), err)
		}
	}
	dial := []zmq4.Option{zmq4.WithID(zmq4.SocketIdentity(identity)), zmq4.WithDialerRetry(100 * time.Millisecond), zmq4.WithDialerMaxRetries(-1)}
	p.bShell, p.bControl, p.bStdin = zmq4.NewDealer(ctx, dial...), zmq4.NewDealer(ctx, dial...), zmq4.NewDealer(ctx, dial...)
	p.bIOPub = zmq4.NewSub(ctx, dial[1:]...)
	for _, s := range []zmq4.Socket{p.fShell, p.fControl, p.fStdin, p.fIOPub, p.fHB, p.bShell, p.bControl, p.bStdin} {
		p.sendMu[s] = &sync.Mutex{}
	}
	p.run(p.heartbeat)
	p.run(func() {
		// GoNB binds its sockets once it has started: connect (retrying), then relay.
		for _, d := range []struct {
			s    zmq4.Socket
			port int
		}{{p.bIOPub, back.IOPubPort}, {p.bShell, back.ShellPort}, {p.bControl, back.ControlPort}, {p.bStdin, back.StdinPort}} {
			if err := d.s.Dial(back.Endpoint(d.port)); err != nil {
				if ctx.Err() == nil {
					p.logf("connecting to GoNB at %s: %v", back.Endpoint(d.port), err)
				}
				return
			}
		}
		if err := p.bIOPub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
			p.logf("subscribing to GoNB's iopub: %v", err)
			return
		}
		p.run(p.iopub)
		p.run(func() { p.requests(p.fShell, p.bShell, false) })
		p.run(func() { p.requests(p.fControl, p.bControl, true) })
		p.run(func() { p.relay(p.fStdin, p.bStdin) })
		p.run(func() { p.relay(p.bStdin, p.fStdin) })
		p.run(func() { p.replies(p.bShell) })
		p.run(func() { p.replies(p.bControl) })
	})
	return p, nil
}

// route counts the requests with one msg_id relayed from each channel and not yet answered. A client may
// send the same message on both (jupyter_server's "nudge" sends one kernel_info_request on shell and
// control), and GoNB's replies name only the msg_id: the first reply goes to shell, the next to control.
type route struct{ shell, control int }

// pending follows the busy requests relayed with one msg_id: the k-th reply is relayed once GoNB's k-th
// idle for that msg_id is out. changed is closed (and replaced) at each idle.
type pending struct {
	requests, idles, replies int
	changed                  chan struct{}
}

// Close stops relaying and closes every socket.
func (p *Proxy) Close() {
	p.cancel()
	for _, s := range []zmq4.Socket{p.fShell, p.fControl, p.fStdin, p.fIOPub, p.fHB, p.bShell, p.bControl, p.bStdin, p.bIOPub} {
		if s != nil {
			_ = s.Close()
		}
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // a goroutine blocked in a zmq4 call; the process is ending
	}
}

func (p *Proxy) run(f func()) {
	p.wg.Add(1)
	go func() { defer p.wg.Done(); f() }()
}

func (p *Proxy) logf(format string, args ...any) {
	if p.log != nil && p.ctx.Err() == nil {
		fmt.Fprintf(p.log, "gonbgpu kernel: "+format+"\n", args...)
	}
}

// trace logs a message, with GONBGPU_KERNEL_DEBUG set.
func (p *Proxy) trace(what string, frames [][]byte) {
	if !p.debug {
		return
	}
	if m, err := parse(frames); err == nil {
		p.logf("%s %s %.8s (parent %s %.8s)", what, m.msgType, m.msgID, m.parentTyp, m.parentID)
	} else {
		p.logf("%s: %d frames, %v", what, len(frames), err)
	}
}

func (p *Proxy) send(s zmq4.Socket, frames [][]byte) {
	mu := p.sendMu[s]
	mu.Lock()
	defer mu.Unlock()
	if err := s.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		p.logf("sending: %v", err)
	}
}

func (p *Proxy) heartbeat() {
	for {
		m, err := p.fHB.Recv()
		if err != nil {
			return
		}
		p.send(p.fHB, m.Frames)
	}
}

// relay passes every message from one socket to the other, unread.
func (p *Proxy) relay(from, to zmq4.Socket) {
	for {
		m, err := from.Recv()
		if err != nil {
			return
		}
		p.send(to, m.Frames)
	}
}

// requests relays the client's shell or control requests to GoNB, answering those GoNB does not.
func (p *Proxy) requests(front, back zmq4.Socket, control bool) {
	for {
		zm, err := front.Recv()
		if err != nil {
			return
		}
		p.trace(map[bool]string{false: "shell →", true: "control →"}[control], zm.Frames)
		m, err := parse(zm.Frames)
		if err != nil || !p.s.verify(m) {
			p.send(back, zm.Frames) // GoNB logs and drops what is not a valid message, as before
			continue
		}
		switch m.msgType {
		case "is_complete_request", "history_request", "comm_info_request":
			p.answer(front, m)
			continue
		case "execute_request":
			var c struct {
				Code         string `json:"code"`
				Silent       bool   `json:"silent"`
				StoreHistory *bool  `json:"store_history"`
			}
			if json.Unmarshal(m.content, &c) == nil && !c.Silent && (c.StoreHistory == nil || *c.StoreHistory) {
				p.hist.request(m.msgID, c.Code)
			}
		case "comm_open", "comm_close":
			p.trackComm(m)
		}
		p.mu.Lock()
		if strings.HasSuffix(m.msgType, "_request") && len(p.routes) < 100000 {
			r := p.routes[m.msgID]
			if r == nil {
				r = &route{}
				p.routes[m.msgID] = r
			}
			if control {
				r.control++
			} else {
				r.shell++
			}
		}
		if slices.Contains(busyRequests, m.msgType) && len(p.idle) < 100000 {
			w := p.idle[m.msgID]
			if w == nil {
				w = &pending{changed: make(chan struct{})}
				p.idle[m.msgID] = w
			}
			w.requests++
			p.busy++
		}
		p.mu.Unlock()
		p.send(back, zm.Frames)
	}
}

// answer replies to a request GoNB would leave unanswered, bracketed by busy and idle on iopub as a
// kernel does, unless GoNB is busy with a request of its own: its idle is then still to come, and an
// idle from the proxy would tell the front end the kernel was idle while a cell runs.
func (p *Proxy) answer(front zmq4.Socket, m *message) {
	var content any
	switch m.msgType {
	case "is_complete_request":
		var c struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(m.content, &c)
		status, indent := IsComplete(c.Code)
		if status == "incomplete" {
			content = map[string]any{"status": status, "indent": indent}
		} else {
			content = map[string]any{"status": status}
		}
	case "history_request":
		var r historyRequest
		_ = json.Unmarshal(m.content, &r)
		content = map[string]any{"status": "ok", "history": p.hist.answer(r)}
	case "comm_info_request":
		var c struct {
			Target *string `json:"target_name"`
		}
		_ = json.Unmarshal(m.content, &c)
		comms := map[string]any{}
		p.mu.Lock()
		for id, target := range p.comms {
			if c.Target == nil || *c.Target == target {
				comms[id] = map[string]any{"target_name": target}
			}
		}
		p.mu.Unlock()
		content = map[string]any{"status": "ok", "comms": comms}
	}
	p.mu.Lock()
	status := p.busy == 0
	p.mu.Unlock()
	if status {
		p.publishStatus(m, "busy")
	}
	r, err := p.s.reply(p.sess, m, replyType(m.msgType), content)
	if err == nil {
		p.trace("answered ←", r.frames())
		p.send(front, r.frames())
	}
	if status {
		p.publishStatus(m, "idle")
	}
}

func replyType(request string) string { return request[:len(request)-len("_request")] + "_reply" }

func (p *Proxy) publishStatus(parent *message, state string) {
	st, err := p.s.reply(p.sess, parent, "status", map[string]string{"execution_state": state})
	if err != nil {
		return
	}
	st.ids = [][]byte{[]byte("kernel.status")}
	p.send(p.fIOPub, st.frames())
}

// trackComm follows which comms are open, for comm_info_request.
func (p *Proxy) trackComm(m *message) {
	var c struct {
		ID     string `json:"comm_id"`
		Target string `json:"target_name"`
	}
	if json.Unmarshal(m.content, &c) != nil || c.ID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.msgType == "comm_open" {
		if len(p.comms) < 100000 {
			p.comms[c.ID] = c.Target
		}
	} else {
		delete(p.comms, c.ID)
	}
}

// replies relays GoNB's replies, each to the channel its request came on.
func (p *Proxy) replies(back zmq4.Socket) {
	for {
		zm, err := back.Recv()
		if err != nil {
			return
		}
		m, err := parse(zm.Frames)
		if err != nil {
			p.send(p.fShell, zm.Frames)
			continue
		}
		if !p.awaitIdle(m) {
			return
		}
		toControl := false
		p.mu.Lock()
		if r := p.routes[m.parentID]; r != nil {
			if r.shell > 0 {
				r.shell--
			} else if r.control > 0 {
				r.control--
				toControl = true
			}
			if r.shell == 0 && r.control == 0 {
				delete(p.routes, m.parentID)
			}
		}
		p.mu.Unlock()
		frames := zm.Frames
		if m.msgType == "execute_reply" {
			frames = p.executeReply(m, frames)
		}
		if toControl {
			p.trace("control ←", frames)
			p.send(p.fControl, frames)
		} else {
			p.trace("shell ←", frames)
			p.send(p.fShell, frames)
		}
	}
}

// awaitIdle waits, for a reply to a busy request, until GoNB's idle for that request is out (at most
// replyWait). It returns false if the proxy is closing.
func (p *Proxy) awaitIdle(m *message) bool {
	deadline := time.NewTimer(replyWait)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		w := p.idle[m.parentID]
		if w == nil {
			p.mu.Unlock()
			return true
		}
		if w.idles > w.replies {
			w.replies++
			if w.replies >= w.requests && w.idles >= w.requests {
				delete(p.idle, m.parentID)
			}
			p.mu.Unlock()
			return true
		}
		ch := w.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			p.logf("no idle from GoNB for %s %.8s within %s: relaying its reply", m.parentTyp, m.parentID, replyWait)
			p.mu.Lock()
			if w.replies++; w.replies >= w.requests && w.idles >= w.requests {
				delete(p.idle, m.parentID)
			}
			p.mu.Unlock()
			return true
		case <-p.ctx.Done():
			return false
		}
	}
}

// executeReply records the cell in the history, and gives the reply of a cell whose panic was folded
// the same error fields as its error message.
func (p *Proxy) executeReply(m *message, frames [][]byte) [][]byte {
	var c map[string]any
	if json.Unmarshal(m.content, &c) != nil {
		return frames
	}
	if n, ok := c["execution_count"].(float64); ok {
		p.hist.reply(m.parentID, int(n))
	}
	p.mu.Lock()
	f := p.folded[m.parentID]
	delete(p.folded, m.parentID)
	p.mu.Unlock()
	if f == nil || c["status"] != "error" {
		return frames
	}
	for k, v := range f {
		c[k] = v
	}
	out, err := p.s.rewrite(m, c)
	if err != nil {
		return frames
	}
	return out.frames()
}

// iopub relays GoNB's iopub, through the folder.
func (p *Proxy) iopub() {
	for {
		zm, err := p.bIOPub.Recv()
		if err != nil {
			return
		}
		m, err := parse(zm.Frames)
		if err != nil {
			p.send(p.fIOPub, zm.Frames)
			continue
		}
		if m.msgType == "comm_open" || m.msgType == "comm_close" {
			p.trackComm(m)
		}
		for _, out := range p.fold.process(m) {
			if out.msgType == "error" && out != m {
				var c map[string]any
				if json.Unmarshal(out.content, &c) == nil {
					p.mu.Lock()
					p.folded[out.parentID] = c
					p.mu.Unlock()
				}
			}
			p.trace("iopub ←", out.frames())
			p.send(p.fIOPub, out.frames())
			if out.msgType == "status" && out.parentID != "" {
				var c struct {
					State string `json:"execution_state"`
				}
				if json.Unmarshal(out.content, &c) == nil && c.State == "idle" {
					p.mu.Lock()
					if w := p.idle[out.parentID]; w != nil && w.idles < w.requests {
						w.idles++
						p.busy--
						close(w.changed)
						w.changed = make(chan struct{})
						if w.replies >= w.requests && w.idles >= w.requests {
							delete(p.idle, out.parentID)
						}
					}
					p.mu.Unlock()
				}
			}
		}
	}
}
