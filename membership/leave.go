package membership

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// The leave notice: a user message sent over memberlist's authenticated
// stream (TCP) to every peer just before memberlist's own leave.
//
// memberlist v0.6.0 records a node that announced its own death as left in
// its private nodeState.State, but the Node it hands to NotifyLeave carries
// its own, never-set State field (nodeState shadows it): a graceful leave
// looks exactly like a death to the delegate. The Leaving flag in the
// metadata covered that only when the metadata update reached the peer
// before the leave did, and a broadcast "finishes" after a few
// transmissions that may all go to other peers (or to a node that just
// died). Under load, a peer then reported a node that left as dead.
//
// The notice names the node and its instance (Meta.Instance, random per
// process), so a node that leaves and comes back before its peers noticed
// is not reported as left when that new instance later dies.
var leaveNoticePrefix = []byte("haven-leaving\x00")

func encodeLeaveNotice(name, instance string) []byte {
	b := append([]byte(nil), leaveNoticePrefix...)
	b = append(b, name...)
	b = append(b, 0)
	return append(b, instance...)
}

func decodeLeaveNotice(b []byte) (name, instance string, ok bool) {
	if !bytes.HasPrefix(b, leaveNoticePrefix) {
		return "", "", false
	}
	rest := b[len(leaveNoticePrefix):]
	i := bytes.IndexByte(rest, 0)
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return string(rest[:i]), string(rest[i+1:]), true
}

// newInstanceID returns a random id for this process's membership.
func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// noticeLeave records a peer's leave notice (the delegate's NotifyMsg).
func (m *Membership) noticeLeave(msg []byte) {
	name, instance, ok := decodeLeaveNotice(msg)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.peers[name]; ok {
		p.leavingInstance = instance
	}
}

// sendLeaveNotices sends the leave notice to every peer memberlist sees on
// link ml, in parallel, and returns when all are sent or failed, or after
// timeout.
func (m *Membership) sendLeaveNotices(ml *memberlist.Memberlist, instance string, timeout time.Duration) {
	msg := encodeLeaveNotice(m.self.Name, instance)
	var wg sync.WaitGroup
	for _, n := range ml.Members() {
		if n.Name == m.self.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ml.SendReliable(n, msg); err != nil {
				m.log.Debug("leave notice not delivered", "node", n.Name, "err", err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		m.log.Debug("leave notices still in flight; leaving anyway", "timeout", timeout)
	}
}
