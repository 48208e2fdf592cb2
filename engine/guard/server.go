package guard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/havenha/haven/engine/model"
)

// Msg is one line of the protocol from the agent to the guard.
type Msg struct {
	// Op is hold, release, teardown, arm, disarm or bye.
	Op     string            `json:"op"`
	Key    string            `json:"key,omitempty"`
	Kind   string            `json:"kind,omitempty"`
	Args   map[string]string `json:"args,omitempty"`
	Reason string            `json:"reason,omitempty"`
	// Deadline (arm) is the lease's deadline on CLOCK_MONOTONIC, in
	// nanoseconds: the agent and the guard share the machine's monotonic
	// clock (MonotonicNow).
	Deadline int64 `json:"deadline_ns,omitempty"`
	// Grace (arm) is how long after Deadline the guard waits before it
	// tears down, in nanoseconds.
	Grace int64 `json:"grace_ns,omitempty"`
}

// Protocol operations.
const (
	OpHold     = "hold"
	OpRelease  = "release"
	OpTeardown = "teardown"
	OpArm      = "arm"
	OpDisarm   = "disarm"
	OpBye      = "bye"
)

// ReasonIdle is a disarm's reason when the agent holds nothing: the
// watchdog would have nothing to tear down (logged at debug level only).
const ReasonIdle = "idle"

// MonotonicNow is CLOCK_MONOTONIC in nanoseconds: the clock of the arm
// message's deadline, the same for every process of the machine (and the
// one Go's timers and time.Time's monotonic readings use on Linux).
func MonotonicNow() int64 {
	// A raw system call: unix.ClockGettime goes through entersyscall, which
	// wakes the Go runtime's sleeping sysmon thread and sets it polling every
	// 20 µs for a while. Every agent reads this clock on every lease
	// extension (Client.Arm, 8 a second on lan); read the usual way, it
	// doubles an idle member's context switches and costs it 0.1 point of a
	// core (docs/bench/idle.md).
	var ts unix.Timespec
	if _, _, e := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		panic("guard: clock_gettime(CLOCK_MONOTONIC): " + e.Error()) // cannot fail on Linux
	}
	return ts.Nano()
}

// Handler performs one kind of teardown. It must return by ctx's deadline.
// Undoing something already undone (a group with no process left, an
// address already gone) is success.
type Handler func(ctx context.Context, args map[string]string) error

// Kind is a named handler. Kinds run in the order they are given to Serve:
// processes first (they use the address and the mount), then addresses,
// then mounts.
type Kind struct {
	Name string
	Do   Handler
}

// MaxLine bounds one protocol line.
const MaxLine = 64 << 10

// KindTimeout bounds the teardowns of one kind (run concurrently).
const KindTimeout = 10 * time.Second

// Outcome is what Serve did when it returned.
type Outcome struct {
	// Bye: the agent said goodbye; nothing was torn down at the end.
	Bye bool
	// TornDown is the number of teardowns performed at the end (agent gone).
	TornDown int
	// Failed lists the teardowns that failed at the end, "key: error".
	Failed []string
	// Watchdog is how many times the armed lease deadline passed and the
	// guard tore down what was held.
	Watchdog int
}

// line is one protocol line read, or the end of the input (err set, or
// eof).
type line struct {
	text string
	end  bool
	err  error
}

// Serve reads the protocol from r until "bye" or end of file and keeps
// the held set. At end of file (or a read error) without "bye", it performs
// every held teardown and returns. "teardown" performs every held teardown
// at once and goes on.
//
// "arm" sets the one watchdog timer to the message's deadline + grace (on
// CLOCK_MONOTONIC), replacing any earlier arm; "disarm" stops it. When
// the timer fires with no newer arm read — the agent did not extend its
// lease: it is frozen (SIGSTOP, a stall) or the lease lapsed and its stop
// is late — the guard logs a line starting with WATCHDOG:, performs every
// held teardown (as "teardown" does) and goes on; it keeps the held set, as
// the agent, which does not know, still counts it held. An arm whose
// deadline is not later than the one that fired is stale and ignored.
func Serve(r io.Reader, kinds []Kind, log *slog.Logger) Outcome {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The reader runs ahead of the loop (a buffered channel), so when the
	// timer fires every line the agent wrote before is at hand.
	lines := make(chan line, 256)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), MaxLine)
		for sc.Scan() {
			select {
			case lines <- line{text: sc.Text()}:
			case <-quit:
				return
			}
		}
		select {
		case lines <- line{end: true, err: sc.Err()}:
		case <-quit:
		}
	}()

	held := map[string]model.Teardown{}
	var out Outcome
	var (
		armed    bool
		deadline int64 // armed: the lease deadline (CLOCK_MONOTONIC ns)
		grace    int64
		fired    int64 // the deadline the watchdog last acted on
		timer    = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	// Go's timers run on CLOCK_MONOTONIC; Reset drops a pending tick.
	setTimer := func() { timer.Reset(time.Duration(deadline + grace - MonotonicNow())) }

	// handle applies one line; it returns true at the end (bye or end of
	// file), with out filled.
	handle := func(l line) bool {
		if l.end {
			why := "end of file"
			if l.err != nil {
				why = l.err.Error()
			}
			if len(held) == 0 {
				log.Warn("guard: the agent is gone without an orderly stop; it held nothing", "pipe", why)
				return true
			}
			log.Error("guard: the agent is gone without an orderly stop; tearing down everything it held", "pipe", why, "held", keys(held))
			out.TornDown, out.Failed = TeardownAll(held, kinds, log)
			return true
		}
		var m Msg
		if err := json.Unmarshal([]byte(l.text), &m); err != nil {
			log.Error("guard: unreadable message from the agent; ignored", "err", err, "line", truncate(l.text, 200))
			return false
		}
		switch m.Op {
		case OpHold:
			if m.Key == "" || m.Kind == "" {
				log.Error("guard: hold without a key or kind; ignored", "key", m.Key, "kind", m.Kind)
				return false
			}
			if find(kinds, m.Kind) == nil {
				log.Error("guard: hold of an unknown teardown kind; it cannot be undone if the agent dies", "key", m.Key, "kind", m.Kind)
			}
			held[m.Key] = model.Teardown{Kind: m.Kind, Args: m.Args}
			log.Debug("guard: holding", "key", m.Key, "kind", m.Kind, "args", m.Args)
		case OpRelease:
			delete(held, m.Key)
			log.Debug("guard: released", "key", m.Key)
		case OpTeardown:
			log.Error("guard: the agent asks to tear down everything it holds now", "reason", m.Reason, "held", len(held))
			_, failed := TeardownAll(held, kinds, log)
			if len(failed) > 0 {
				log.Error("guard: some teardowns failed", "failed", failed)
			}
			held = map[string]model.Teardown{}
		case OpArm:
			// Several a second: log only the changes of state.
			if m.Deadline <= 0 || m.Grace < 0 {
				log.Error("guard: arm without a positive deadline or with a negative grace; ignored", "deadline_ns", m.Deadline, "grace_ns", m.Grace)
				return false
			}
			if m.Deadline <= fired {
				log.Debug("guard: arm with a deadline the watchdog already acted on; ignored", "deadline_ns", m.Deadline)
				return false
			}
			if !armed {
				left := time.Duration(m.Deadline - MonotonicNow())
				log.Info("guard: armed: if the agent's lease deadline passes without a newer one, the guard tears down everything it holds",
					"deadline_in", left.Round(time.Millisecond), "grace", time.Duration(m.Grace), "held", len(held))
			}
			armed, deadline, grace = true, m.Deadline, m.Grace
			setTimer()
		case OpDisarm:
			if armed && m.Reason == ReasonIdle {
				log.Debug("guard: disarmed while the agent holds nothing", "held", len(held))
			} else if armed {
				log.Info("guard: disarmed: a lapse of the agent's lease does not stop its resources now", "held", len(held))
			}
			armed = false
			timer.Stop()
		case OpBye:
			if len(held) > 0 {
				log.Info("guard: the agent stopped in order; leaving what it still holds", "held", keys(held))
			}
			out.Bye = true
			return true
		default:
			log.Error("guard: unknown operation; ignored", "op", m.Op)
		}
		return false
	}

	for {
		select {
		case l := <-lines:
			if handle(l) {
				return out
			}
		case <-timer.C:
			// Lines read meanwhile first: a newer arm (or the end) wins.
			for drained := false; !drained; {
				select {
				case l := <-lines:
					if handle(l) {
						return out
					}
				default:
					drained = true
				}
			}
			if !armed {
				continue
			}
			now := MonotonicNow()
			if now < deadline+grace {
				setTimer() // re-armed meanwhile (or an early tick)
				continue
			}
			armed, fired = false, deadline
			out.Watchdog++
			late := time.Duration(now - deadline)
			at := time.Now().Add(-late) // the deadline on the wall clock, for the log
			if len(held) == 0 {
				// The agent stopped everything itself (a lapse it saw).
				log.Warn("guard: the agent's lease deadline passed without a newer one; it holds nothing to tear down",
					"deadline", at.Format(time.RFC3339Nano), "late", late.Round(time.Microsecond))
				continue
			}
			log.Error("WATCHDOG: the agent's lease deadline passed without a newer one (the agent is frozen or stalled, or its stop after the lapse is late): tearing down everything it holds, before the cluster recovers its resources elsewhere",
				"deadline", at.Format(time.RFC3339Nano), "late", late.Round(time.Microsecond), "grace", time.Duration(grace), "held", keys(held))
			start := time.Now()
			n, failed := TeardownAll(held, kinds, log)
			if len(failed) > 0 {
				log.Error("WATCHDOG: some teardowns failed", "failed", failed)
			}
			log.Error("WATCHDOG: torn down; the guard goes on (a newer lease deadline re-arms it)", "torn_down", n, "took", time.Since(start).Round(time.Microsecond))
		}
	}
}

// TeardownAll performs every teardown in held: kind by kind in the order of
// kinds (teardowns of a kind concurrently, bounded by KindTimeout), then
// those of unknown kinds are reported as failed. It returns how many ran
// and the failures ("key: error"), sorted.
func TeardownAll(held map[string]model.Teardown, kinds []Kind, log *slog.Logger) (int, []string) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu     sync.Mutex
		failed []string
		n      int
	)
	done := map[string]bool{}
	for _, k := range kinds {
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), KindTimeout)
		for _, key := range keys(held) {
			t := held[key]
			if t.Kind != k.Name {
				continue
			}
			done[key] = true
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				err := k.Do(ctx, t.Args)
				if err != nil {
					log.Error("guard: teardown failed", "key", key, "kind", t.Kind, "args", t.Args, "err", err)
					mu.Lock()
					failed = append(failed, key+": "+err.Error())
					mu.Unlock()
					return
				}
				log.Warn("guard: torn down", "key", key, "kind", t.Kind, "args", t.Args, "took", time.Since(start).Round(time.Microsecond))
			}()
		}
		waitCh := make(chan struct{})
		go func() { wg.Wait(); close(waitCh) }()
		select {
		case <-waitCh:
		case <-time.After(KindTimeout + time.Second):
			// A handler ignored its deadline (a hung unmount): go on.
			mu.Lock()
			failed = append(failed, fmt.Sprintf("kind %s: still running after %s", k.Name, KindTimeout))
			mu.Unlock()
		}
		cancel()
	}
	for _, key := range keys(held) {
		if !done[key] {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s: no handler for teardown kind %q", key, held[key].Kind))
			mu.Unlock()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(failed)
	return n, append([]string(nil), failed...)
}

func find(kinds []Kind, name string) *Kind {
	for i := range kinds {
		if kinds[i].Name == name {
			return &kinds[i]
		}
	}
	return nil
}

func keys(m map[string]model.Teardown) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
