import Testing

@testable import Cluster

private func expectTransitionError(
    _ code: TaskTransitionError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("transition accepted, expected \(code)", sourceLocation: sourceLocation)
    } catch let e as TaskTransitionError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct TaskStateMachineTests {
    let name = TaskName(.train, 3)

    @Test func happyPathWithCheckpoints() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 3)
        try m.lease(attemptID: 1)
        #expect(m.state == .leased && m.attemptID == 1)
        try m.start(attemptID: 1)
        try m.checkpoint(attemptID: 1)
        try m.checkpoint(attemptID: 1)
        #expect(m.state == .checkpointed)
        try m.complete(attemptID: 1)
        #expect(m.state == .done && m.state.isFinal)
    }

    @Test func completeWithoutCheckpointsFromRunning() throws {
        var m = TaskStateMachine(name: TaskName(.evaluate, 0), maxAttempts: 1)
        try m.lease(attemptID: 5)
        try m.start(attemptID: 5)
        try m.complete(attemptID: 5)
        #expect(m.state == .done)
    }

    @Test func illegalTransitionsAreRejected() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 3)
        expectTransitionError(.staleAttempt) { try m.start(attemptID: 1) }  // no attempt yet
        try m.lease(attemptID: 1)
        expectTransitionError(.illegalTransition) { try m.lease(attemptID: 2) }
        expectTransitionError(.illegalTransition) { try m.checkpoint(attemptID: 1) }
        expectTransitionError(.illegalTransition) { try m.complete(attemptID: 1) }
        try m.start(attemptID: 1)
        expectTransitionError(.illegalTransition) { try m.start(attemptID: 1) }
        try m.complete(attemptID: 1)
        expectTransitionError(.illegalTransition) { try m.fail(attemptID: 1) }
        expectTransitionError(.illegalTransition) { try m.abandon(attemptID: 1) }
        expectTransitionError(.illegalTransition) { try m.lease(attemptID: 2) }
        #expect(m.state == .done, "rejected events change nothing")
    }

    @Test func eventsFromAnOldAttemptAreStale() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 3)
        try m.lease(attemptID: 1)
        try m.start(attemptID: 1)
        let s1 = try m.fail(attemptID: 1)
        #expect(s1 == .lost)
        try m.lease(attemptID: 2)
        expectTransitionError(.staleAttempt) { try m.start(attemptID: 1) }
        expectTransitionError(.staleAttempt) { try m.complete(attemptID: 1) }
        expectTransitionError(.staleAttempt) { try m.fail(attemptID: 1) }
        #expect(m.state == .leased && m.attemptID == 2 && m.failures == 1)
        do {
            try m.complete(attemptID: 1)
        } catch {
            #expect("\(error)" == "train/p3: complete from attempt 1 which is not the current attempt")
        }
    }

    @Test func retriesAreBoundedAndNonRetryableFailsAtOnce() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 3)
        var states: [TaskState] = []
        for attempt in UInt64(1)...3 {
            try m.lease(attemptID: attempt)
            try m.start(attemptID: attempt)
            states.append(try m.fail(attemptID: attempt))
        }
        #expect(states == [.lost, .lost, .failed])
        #expect(m.failures == 3 && m.retriesLeft == 0)
        expectTransitionError(.illegalTransition) { try m.lease(attemptID: 4) }

        var bad = TaskStateMachine(name: TaskName(.extract, 0), maxAttempts: 3)
        try bad.lease(attemptID: 1)
        let s2 = try bad.fail(attemptID: 1, retryable: false)
        #expect(s2 == .failed)
    }

    @Test func leasedAttemptCanBeLostBeforeStarting() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 2)
        try m.lease(attemptID: 1)
        let s1 = try m.fail(attemptID: 1)
        #expect(s1 == .lost)
        try m.lease(attemptID: 2)
        let s3 = try m.fail(attemptID: 2)
        #expect(s3 == .failed)
    }

    @Test func abandonReturnsToPendingWithoutCountingAFailure() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 1)
        try m.lease(attemptID: 1)
        try m.start(attemptID: 1)
        try m.checkpoint(attemptID: 1)
        try m.abandon(attemptID: 1)
        #expect(m.state == .pending && m.failures == 0)
        try m.lease(attemptID: 2)
        #expect(m.attemptID == 2)
    }

    @Test func restoredMachineKeepsItsCounts() throws {
        var m = TaskStateMachine(name: name, maxAttempts: 3, state: .running, attemptID: 9, failures: 2)
        let s4 = try m.fail(attemptID: 9)
        #expect(s4 == .failed)
        #expect(TaskStateMachine(name: name, maxAttempts: 0).maxAttempts == 1)
    }
}
