// Package coordinator holds the iteration logic of distributed alternating
// minimization and the driver that runs it.
//
// Core is a pure state machine (no goroutines, sockets or clocks; the
// iteration number is its only clock): it says what statistics the current
// iteration needs, accepts or rejects partials, reduces them in partition
// order, solves the normal equations and decides when to stop. Driver does
// the I/O around it through the Fetcher interface; see Driver for its duties.
package coordinator
