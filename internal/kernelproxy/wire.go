package kernelproxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// ConnInfo is a Jupyter connection file: where the kernel's five sockets are, and the key that signs
// every message. See https://jupyter-client.readthedocs.io/en/latest/kernels.html#connection-files.
type ConnInfo struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// ReadConnInfo reads a connection file.
func ReadConnInfo(path string) (*ConnInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c ConnInfo
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: not a Jupyter connection file: %w", path, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Transport != "tcp" && c.Transport != "ipc" {
		return nil, fmt.Errorf("%s: transport %q is neither tcp nor ipc", path, c.Transport)
	}
	if c.SignatureScheme != "" && c.SignatureScheme != "hmac-sha256" {
		return nil, fmt.Errorf("%s: signature scheme %q is not hmac-sha256", path, c.SignatureScheme)
	}
	return &c, nil
}

// Write writes the connection file, readable by its owner only (it holds the key).
func (c *ConnInfo) Write(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// Endpoint is the ZeroMQ address of a port, as Jupyter spells it for each transport.
func (c *ConnInfo) Endpoint(port int) string {
	if c.Transport == "ipc" {
		return fmt.Sprintf("ipc://%s-%d", c.IP, port)
	}
	return fmt.Sprintf("tcp://%s:%d", c.IP, port)
}

const delimiter = "<IDS|MSG>"

// message is one Jupyter message as it travels: routing identities, then the delimiter, the signature,
// the four JSON parts and any binary buffers. The JSON parts are kept as bytes, so that what is only
// passed on is passed on byte for byte.
type message struct {
	ids                                 [][]byte
	sig                                 []byte
	header, parent, metadata, content   []byte
	buffers                             [][]byte
	msgType, msgID, parentID, parentTyp string
}

// parse splits frames into a message and reads the headers' types and ids. It does not check the
// signature (see signer.verify).
func parse(frames [][]byte) (*message, error) {
	i := 0
	for i < len(frames) && string(frames[i]) != delimiter {
		i++
	}
	if len(frames) < i+6 {
		return nil, fmt.Errorf("not a Jupyter message (%d frames, delimiter at %d)", len(frames), i)
	}
	m := &message{ids: frames[:i], sig: frames[i+1], header: frames[i+2], parent: frames[i+3],
		metadata: frames[i+4], content: frames[i+5], buffers: frames[i+6:]}
	var h struct {
		MsgType string `json:"msg_type"`
		MsgID   string `json:"msg_id"`
	}
	if err := json.Unmarshal(m.header, &h); err != nil {
		return nil, fmt.Errorf("bad header: %w", err)
	}
	m.msgType, m.msgID = h.MsgType, h.MsgID
	h.MsgType, h.MsgID = "", ""
	_ = json.Unmarshal(m.parent, &h) // an empty parent ({}) is fine
	m.parentTyp, m.parentID = h.MsgType, h.MsgID
	return m, nil
}

// frames lays the message out for the wire.
func (m *message) frames() [][]byte {
	out := make([][]byte, 0, len(m.ids)+6+len(m.buffers))
	out = append(out, m.ids...)
	out = append(out, []byte(delimiter), m.sig, m.header, m.parent, m.metadata, m.content)
	return append(out, m.buffers...)
}

// signer signs and checks messages with the connection's key (HMAC-SHA256 over the four JSON parts).
type signer struct{ key []byte }

func (s signer) sign(m *message) {
	if len(s.key) == 0 {
		m.sig = []byte{}
		return
	}
	mac := hmac.New(sha256.New, s.key)
	for _, p := range [][]byte{m.header, m.parent, m.metadata, m.content} {
		mac.Write(p)
	}
	m.sig = []byte(hex.EncodeToString(mac.Sum(nil)))
}

func (s signer) verify(m *message) bool {
	if len(s.key) == 0 {
		return true
	}
	mac := hmac.New(sha256.New, s.key)
	for _, p := range [][]byte{m.header, m.parent, m.metadata, m.content} {
		mac.Write(p)
	}
	want := []byte(hex.EncodeToString(mac.Sum(nil)))
	return hmac.Equal(want, bytes.ToLower(m.sig))
}

// header is a message header the proxy writes itself.
type header struct {
	MsgID    string `json:"msg_id"`
	MsgType  string `json:"msg_type"`
	Username string `json:"username"`
	Session  string `json:"session"`
	Date     string `json:"date"`
	Version  string `json:"version"`
}

// protocolVersion is the version of the messaging protocol the proxy's own messages follow (GoNB's).
const protocolVersion = "5.4"

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reply builds a new message of msgType in answer to parent, with the given content, routed to the
// parent's identities.
func (s signer) reply(session string, parent *message, msgType string, content any) (*message, error) {
	c, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	h, _ := json.Marshal(header{MsgID: newID(), MsgType: msgType, Username: "kernel", Session: session,
		Date: time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), Version: protocolVersion})
	m := &message{ids: parent.ids, header: h, parent: parent.header, metadata: []byte("{}"), content: c,
		msgType: msgType, parentID: parent.msgID, parentTyp: parent.msgType}
	s.sign(m)
	return m, nil
}

// rewrite returns a copy of m with new content, a new msg_id, and a new signature; the rest of its
// header (type, session, date) is m's.
func (s signer) rewrite(m *message, content any) (*message, error) {
	c, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	var h map[string]any
	if err := json.Unmarshal(m.header, &h); err != nil {
		return nil, err
	}
	h["msg_id"] = newID()
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := *m
	out.header, out.content, out.buffers = hb, c, nil
	out.msgID = h["msg_id"].(string)
	s.sign(&out)
	return &out, nil
}
