// Package allocation is the master's allocation loop (Loop), the first
// level of kubeoffer's two-level scheduling: it decides how much each
// framework gets and offers it concrete agent resources, and it admits the
// tasks frameworks accept offers with. It runs on the leader only.
//
// # A pass
//
// A pass reads every kubeoffer object from the informer cache into a world
// (world.go; overlaid with this master's writes the cache has not shown
// yet, assume.go), digests it once into a ledger for the allocator
// (ledger.go), and then runs its steps in order (Loop.runPass):
//
//  1. declines (declines.go): declined offers are deleted and refuse
//     filters installed;
//  2. placements (builtin.go): the built-in schedulers place their waiting
//     tasks on the offers they hold, and bind them in one write each;
//  3. admission (admit.go): tasks naming an offer are bound, or ended with
//     a reason;
//  4. returns (builtin.go): the built-in schedulers answer the offers they
//     are done with;
//  5. rescinds (rescind.go): offers that must go are withdrawn;
//  6. offers (offers.go): the allocator's new offers are made: objects for
//     the frameworks that schedule themselves; for the built-in schedulers,
//     offers that live in the master for the rest of the pass, on which
//     they place and bind their tasks at once (builtin.go) before the rest
//     goes back to the pool; built-in tasks nothing holds are marked
//     waiting once they have waited an allocation interval;
//  7. status (status.go, rolestatus.go): the status the loop owns is
//     written where it changed, and the gauges set (metrics.go).
//
// # Plan, then apply
//
// Each step is a function from the pass (world and ledger) to a plan: the
// writes it wants and the Events they record (plan.go). No step holds a
// client. apply (writes.go) performs a plan through a Writer and folds the
// writes that landed into the world, the ledger and the assumptions, so the
// next step decides on what is really there. The ledger is built once per
// pass and kept in step in place; it always equals one built afresh from
// the world as it then is.
//
// A pass decides on at most maxTasksPerPass tasks in each of placement and
// admission; one that leaves work is followed at once by the next, so a
// burst streams through short passes.
//
// # Batched writes
//
// Each kind of write of a plan goes out as one batch: a batch's writes
// touch different objects, so they are sent concurrently (at most
// Options.ConcurrentWrites in flight) and the API server's latency is paid
// once per batch. Workers touch only their request; the pass's goroutine
// applies the results, in the plan's order, once the whole batch has
// returned. A write that failed (a conflict, above all) changes nothing and
// is decided again by the next pass; refusals are written only if every
// bind before them was, since a failed bind gives back resources a refusal
// may have counted as taken.
package allocation
