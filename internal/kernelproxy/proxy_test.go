package kernelproxy

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// fakeGoNB answers like GoNB: each request on its shell or control socket is bracketed by busy and idle
// on iopub, and its reply goes out on the shell socket whichever socket the request came on (GoNB's
// MessageImpl.Reply). The idle is published idleAfter the reply, so that a client that gets a reply
// before the idle would show.
type fakeGoNB struct {
	s                     signer
	shell, control, iopub zmq4.Socket
	requests              atomic.Int32
	idleAfter             time.Duration
	shellSend, iopubSend  chan [][]byte
}

func startFakeGoNB(t *testing.T, ctx context.Context, back *ConnInfo, key string) *fakeGoNB {
	f := &fakeGoNB{s: signer{[]byte(key)}, shell: zmq4.NewRouter(ctx), control: zmq4.NewRouter(ctx), iopub: zmq4.NewPub(ctx),
		idleAfter: 200 * time.Millisecond, shellSend: make(chan [][]byte, 16), iopubSend: make(chan [][]byte, 16)}
	for _, l := range []struct {
		s    zmq4.Socket
		port int
	}{{f.shell, back.ShellPort}, {f.control, back.ControlPort}, {f.iopub, back.IOPubPort}, {zmq4.NewRouter(ctx), back.StdinPort}} {
		if err := l.s.Listen(back.Endpoint(l.port)); err != nil {
			t.Fatal(err)
		}
	}
	// One goroutine sends on each socket, as GoNB locks its sockets.
	go func() {
		for fr := range f.shellSend {
			_ = f.shell.SendMulti(zmq4.NewMsgFrom(fr...))
		}
	}()
	go func() {
		for fr := range f.iopubSend {
			_ = f.iopub.SendMulti(zmq4.NewMsgFrom(fr...))
		}
	}()
	for _, sck := range []zmq4.Socket{f.shell, f.control} {
		go func() {
			for {
				zm, err := sck.Recv()
				if err != nil {
					return
				}
				m, err := parse(zm.Frames)
				if err != nil {
					continue
				}
				f.requests.Add(1)
				status := func(state string) {
					st, _ := f.s.reply("gonb", m, "status", map[string]string{"execution_state": state})
					f.iopubSend <- st.frames()
				}
				status("busy")
				r, _ := f.s.reply("gonb", m, replyType(m.msgType), map[string]string{"status": "ok"})
				f.shellSend <- r.frames()
				time.Sleep(f.idleAfter)
				status("idle")
			}
		}()
	}
	return f
}

// TestProxyRouting runs the proxy between a client and a fake GoNB, over ipc sockets: a reply goes to
// the channel its request came on (the same msg_id sent on both gets one reply on each), is relayed only
// after its idle, and is_complete is answered by the proxy without reaching GoNB.
func TestProxyRouting(t *testing.T) {
	dir := t.TempDir()
	const key = "secret"
	front := &ConnInfo{Transport: "ipc", IP: filepath.Join(dir, "front"), ShellPort: 1, IOPubPort: 2, StdinPort: 3, ControlPort: 4, HBPort: 5, Key: key, SignatureScheme: "hmac-sha256"}
	back := *front
	back.IP = filepath.Join(dir, "back")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	p, err := Start(ctx, front, &back, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	gonb := startFakeGoNB(t, ctx, &back, key)

	client := signer{[]byte(key)}
	id := zmq4.WithID(zmq4.SocketIdentity("client"))
	shell, control, iopub := zmq4.NewDealer(ctx, id), zmq4.NewDealer(ctx, id), zmq4.NewSub(ctx)
	for _, d := range []struct {
		s    zmq4.Socket
		port int
	}{{shell, front.ShellPort}, {control, front.ControlPort}, {iopub, front.IOPubPort}} {
		if err := d.s.Dial(front.Endpoint(d.port)); err != nil {
			t.Fatal(err)
		}
	}
	_ = iopub.SetOption(zmq4.OptionSubscribe, "")
	idles := make(chan time.Time, 16)
	go func() {
		for {
			zm, err := iopub.Recv()
			if err != nil {
				return
			}
			if m, err := parse(zm.Frames); err == nil && m.msgType == "status" && string(m.content) == `{"execution_state":"idle"}` {
				idles <- time.Now()
			}
		}
	}()
	request := func(msgType, msgID string) [][]byte {
		h, _ := json.Marshal(header{MsgID: msgID, MsgType: msgType, Session: "client", Version: protocolVersion})
		m := &message{header: h, parent: []byte("{}"), metadata: []byte("{}"), content: []byte(`{"code": "func f() {"}`)}
		client.sign(m)
		return m.frames()
	}
	recv := func(what string, s zmq4.Socket) *message {
		t.Helper()
		got := make(chan *message, 1)
		go func() {
			zm, err := s.Recv()
			if err != nil {
				close(got)
				return
			}
			m, err := parse(zm.Frames)
			if err != nil || !client.verify(m) {
				close(got)
				return
			}
			got <- m
		}()
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatalf("%s: no valid message", what)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: nothing in 30 s", what)
		}
		return nil
	}

	// The iopub subscription takes a moment: kernel_info until an idle comes, as jupyter_server does.
	for i := 0; ; i++ {
		_ = shell.SendMulti(zmq4.NewMsgFrom(request("kernel_info_request", "warm")...))
		recv("warm-up reply", shell)
		select {
		case <-idles:
		case <-time.After(time.Second):
			if i < 30 {
				continue
			}
			t.Fatal("no idle on iopub")
		}
		break
	}
	for len(idles) > 0 {
		<-idles
	}

	// The same msg_id on shell and on control: one reply on each, each after an idle.
	_ = shell.SendMulti(zmq4.NewMsgFrom(request("kernel_info_request", "nudge")...))
	_ = control.SendMulti(zmq4.NewMsgFrom(request("kernel_info_request", "nudge")...))
	for _, c := range []struct {
		what string
		s    zmq4.Socket
	}{{"shell", shell}, {"control", control}} {
		m := recv(c.what+" reply", c.s)
		got := time.Now()
		if m.msgType != "kernel_info_reply" || m.parentID != "nudge" {
			t.Errorf("on %s: %s to %s, want kernel_info_reply to nudge", c.what, m.msgType, m.parentID)
		}
		// GoNB's idle comes 200 ms after its reply: relayed at once, the reply would beat it by as much.
		select {
		case idle := <-idles:
			if idle.After(got.Add(100 * time.Millisecond)) {
				t.Errorf("the %s reply came %s before GoNB's idle for it", c.what, idle.Sub(got))
			}
		case <-time.After(30 * time.Second):
			t.Errorf("no idle for the %s request", c.what)
		}
	}

	// A control request's reply comes on control, though GoNB sends it on shell.
	_ = control.SendMulti(zmq4.NewMsgFrom(request("interrupt_request", "int")...))
	if m := recv("control reply", control); m.msgType != "interrupt_reply" || m.parentID != "int" {
		t.Errorf("on control: %s to %s, want interrupt_reply to int", m.msgType, m.parentID)
	}

	// is_complete is the proxy's: GoNB never sees it.
	before := gonb.requests.Load()
	_ = shell.SendMulti(zmq4.NewMsgFrom(request("is_complete_request", "ic")...))
	m := recv("is_complete reply", shell)
	var c map[string]string
	_ = json.Unmarshal(m.content, &c)
	if m.msgType != "is_complete_reply" || c["status"] != "incomplete" || c["indent"] != "\t" {
		t.Errorf("is_complete: %s %v, want is_complete_reply incomplete with a tab", m.msgType, c)
	}
	if n := gonb.requests.Load(); n != before {
		t.Errorf("GoNB got %d request(s) for is_complete", n-before)
	}
}

// testWriter logs what the proxy reports.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
