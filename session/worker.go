package session

import "sync"

// demandWorker runs an owner's step function on a goroutine of its own only while there is
// work, so that an idle upstream holds no goroutine for it (W1: every goroutine is a stack
// per user). signal records signal bits and starts the goroutine (counted in the owner's
// WaitGroup) unless one runs; the goroutine hands the pending bits to step until none are
// left, then ends. Steps never overlap: what they touch is theirs alone, as in a select loop.
//
// Bits signalled before start wait for it; after stop no goroutine starts (a step already
// running finishes: the owner waits for it on its WaitGroup, after stop, so that no Add can
// race the Wait).
type demandWorker struct {
	mu      sync.Mutex
	sigs    int
	running bool
	state   int // workerNew, workerStarted or workerStopped
	wg      *sync.WaitGroup
	step    func(sigs int)
}

const (
	workerNew = iota
	workerStarted
	workerStopped
)

// start makes w run step on wg's goroutines, beginning with sigs and those signalled so far.
func (w *demandWorker) start(wg *sync.WaitGroup, step func(sigs int), sigs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wg, w.step, w.state = wg, step, workerStarted
	w.sigs |= sigs
	w.spawn()
}

// signal adds sigs to the pending bits and starts the goroutine unless one runs.
func (w *demandWorker) signal(sigs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sigs |= sigs
	w.spawn()
}

// stop keeps any further goroutine from starting; bits still pending never run.
func (w *demandWorker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state = workerStopped
}

// spawn starts the goroutine if there is work, none runs and w is started. w.mu is held.
func (w *demandWorker) spawn() {
	if w.running || w.state != workerStarted || w.sigs == 0 {
		return
	}
	w.running = true
	w.wg.Add(1)
	go w.run()
}

func (w *demandWorker) run() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		sigs := w.sigs
		w.sigs = 0
		if sigs == 0 || w.state != workerStarted {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		w.step(sigs)
	}
}
