package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/havenha/haven/engine/clock"
)

// reportQueue delivers observations to the Reporter in order, one at a time,
// retrying each until it is recorded or the run ends.
type reportQueue struct {
	mu       sync.Mutex
	items    []queuedReport
	seq      uint64
	prefix   string // "NODE@RUN" for Observation.ID
	notifyCh chan struct{}
}

type queuedReport struct {
	seq uint64
	obs Observation
	ack bool // tell the loop the recorded index
}

// recorded is the answer for an acked observation.
type recorded struct {
	seq   uint64
	index uint64
}

func newReportQueue() *reportQueue {
	return &reportQueue{notifyCh: make(chan struct{}, 1)}
}

// setPrefix names this run in observation IDs.
func (q *reportQueue) setPrefix(p string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.prefix = p
}

// push queues o and returns its sequence number. Consecutive identical
// observations (same instance, state, op, reason) are queued once.
func (q *reportQueue) push(o Observation, ack bool) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.items); n > 0 && !ack {
		last := q.items[n-1].obs
		if last.Instance == o.Instance && last.State == o.State && last.Op == o.Op && last.Reason == o.Reason && !q.items[n-1].ack {
			return q.items[n-1].seq
		}
	}
	q.seq++
	o.ID = fmt.Sprintf("%s-%d", q.prefix, q.seq)
	q.items = append(q.items, queuedReport{seq: q.seq, obs: o, ack: ack})
	select {
	case q.notifyCh <- struct{}{}:
	default:
	}
	return q.seq
}

func (q *reportQueue) head() (queuedReport, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return queuedReport{}, false
	}
	return q.items[0], true
}

func (q *reportQueue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = q.items[1:]
}

// run delivers queued observations until ctx ends.
func (q *reportQueue) run(ctx context.Context, rep Reporter, clk clock.Clock, retry time.Duration, log *slog.Logger, recordedCh chan<- recorded) {
	failing := false
	// A report fails mostly while raft has no leader (an election, a
	// coordinator handoff: tens of milliseconds): retry soon, then back off
	// to retry.
	pause := min(retry, 20*time.Millisecond)
	for {
		item, ok := q.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.notifyCh:
				continue
			}
		}
		idx, err := rep.Report(ctx, item.obs)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Warn("report not recorded; retrying", "instance", item.obs.Instance, "state", item.obs.State, "err", err, "retry", retry)
				failing = true
			}
			t := clk.NewTimer(pause)
			pause = min(2*pause, retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			continue
		}
		if failing {
			log.Info("reports recorded again", "instance", item.obs.Instance, "index", idx)
			failing = false
		}
		pause = min(retry, 20*time.Millisecond)
		q.pop()
		if item.ack {
			select {
			case recordedCh <- recorded{seq: item.seq, index: idx}:
			case <-ctx.Done():
				return
			}
		}
	}
}
