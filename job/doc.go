// Package job turns a user's training or prediction request (flags, files)
// into a run: it opens the data, builds the model specification and the
// initial weights, runs the coordinator, and writes the output directory
// (weights.npy, model.json, metrics.jsonl) and the terminal table.
package job
