#pragma once
// The extension laws: what the engine promises an extension, and what an
// extension must keep. Documentation only; interlook/testing/laws.hpp checks
// them in tests, and the adapters and the core enforce what they can.
//
// Threads
//   1. Each extension runs on a thread of its own: start() (or the adapter's
//      receive loop, which calls handle / handle_batch, or the io_context that
//      runs the concurrent form's coroutines). Nothing else calls into it but
//      stop(), from the core's thread. An outbox has one producer: post work
//      from other threads with job_queue.
//   2. The core sends one step per service at a time: an extension never has
//      two messages about one service in progress, so per-service order is
//      kept in every form (a batch, or maxInFlight coroutines).
//
// Answers (provisioners)
//   3. Every add and delete is answered, exactly once, with the request's
//      action and service name. An adapter turns an answer that changed
//      either into an error naming this law; an exception becomes the
//      answer's error.
//   4. A provisioner may change only public_ip in the service it answers
//      with: targets, TLS and aliases come from providers, and the core keeps
//      its own copy. An ipam.* step sets or changes public_ip. Another step
//      may set one when the service has none yet (a load balancer that picks
//      its own VIP); changing an address already given is an error on that
//      service, never silently ignored.
//   5. add creates or converges, delete removes; both are idempotent: the
//      same message twice changes nothing the second time (after a crash the
//      core repeats the steps since the last journalled point). delete
//      carries the stored definition, since the platform may have forgotten
//      it. Objects the extension did not create are never changed or deleted.
//   6. Failure is the answer's `error`: the entry stops at that step and is
//      retried with backoff. A peer that cannot be reached is an error, never
//      a reason to delete anything.
//
// Providers
//   7. A provider sends add (with at least one target) and delete for
//      services, and answers each refresh request for a service name with an
//      add (current definition) or a delete; it declares
//      `static constexpr bool answers_refresh = true;`. A look-up that fails
//      answers nothing rather than a wrong delete.
//
// Stop (SIGINT/SIGTERM, rule 9): providers stop first; steps in flight get
// up to shutdownTimeout to answer; then each provisioner is stopped:
//   - one message at a time: the message being handled is answered; what is
//     still queued is left, and resumes at the next start;
//   - batch: the batch being handled is finished and answered; the rest is
//     left;
//   - concurrent: the coroutines in progress are cancelled (their awaits end
//     with operation_aborted) and their answers dropped; they resume at the
//     next start.
// So a stop takes at most shutdownTimeout plus one message, batch or
// cancellation, however much is queued, and loses nothing.
