import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Kernels

/// The fork-join pool behind `Parallel.run` (CKernels' cxr_pool.c): every part of every job runs
/// exactly once, workers that have parked are woken, and calls that find the pool in use (from
/// inside a part, or from other threads at once) still run all their parts.
///
/// Other suites run beside these and use the pool too, so a test that needs the pool itself retries
/// until it gets it.
@Suite(.serialized) struct ParallelTests {
    /// Runs `body` on the pool, waiting while other tests hold it.
    static func onPool(parts: Int, threads: Int? = nil, _ body: (WorkPart) -> Void) {
        while !Parallel.runOnPool(parts: parts, threads: threads, body) { usleep(200) }
    }

    /// Thousands of short jobs of 2-8 parts, with spinning workers and with workers that park
    /// after every job: each part of each job runs once, with the right part count.
    @Test(arguments: [1000, 0])
    func everyPartOfEveryJobRunsOnce(spinMicroseconds: Int) {
        Parallel.setSpin(microseconds: spinMicroseconds)
        defer { Parallel.setSpin(microseconds: 1000) }
        let jobs = spinMicroseconds > 0 ? 5000 : 500
        let slots = 8
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: jobs * slots)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        for job in 0..<jobs {
            let parts = 2 + job % 7
            Self.onPool(parts: parts) { part in
                // Each part writes only its own slot; a wrong count shows up as an extra slot.
                counts[job * slots + part.index] += part.count == parts ? 1 : 100
            }
        }
        var wrong = 0
        for job in 0..<jobs {
            let parts = 2 + job % 7
            for s in 0..<slots where counts[job * slots + s] != (s < parts ? 1 : 0) { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(Parallel.poolWorkers >= 7)
    }

    /// With spinning off, every job must wake a parked worker through the futex. Parts that sleep
    /// 20 ms give a woken worker ample time to claim the second part before the caller does; if
    /// wake-ups were lost, the caller would run both parts of every job itself.
    @Test func parkedWorkersAreWoken() {
        Parallel.setSpin(microseconds: 0)
        defer { Parallel.setSpin(microseconds: 1000) }
        let caller = pthread_self()
        var helped = 0
        for _ in 0..<10 {
            usleep(5000)  // workers park
            let others = Atomic<Int>(0)
            Self.onPool(parts: 2) { _ in
                if pthread_equal(pthread_self(), caller) == 0 { others.add(1, ordering: .relaxed) }
                usleep(20_000)
            }
            if others.load(ordering: .relaxed) > 0 { helped += 1 }
        }
        #expect(helped >= 8, "a parked worker ran a part in only \(helped) of 10 jobs")
    }

    /// A part that calls `Parallel.run` itself (the pool is held by its own job) and four threads
    /// calling at once: all parts of all calls run once, through the fallback where needed.
    @Test func nestedAndConcurrentCallsRunEveryPart() {
        let total = Atomic<Int>(0)
        Parallel.run(parts: 2) { _ in
            Parallel.run(parts: 3) { _ in total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 6)

        let sum = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<500 {
                Parallel.run(parts: 3) { part in sum.add(part.index + 1, ordering: .relaxed) }
            }
        }
        #expect(sum.load(ordering: .relaxed) == 4 * 500 * 6)
    }

    /// More parts than threads: each part runs once, on a thread index below the thread count, and
    /// no thread runs two parts at once (so per-thread scratch is safe) — on the pool and on the
    /// concurrentPerform fallback (taken when more threads are asked for than the pool allows).
    @Test(arguments: [3, 65])
    func morePartsThanThreadsUseThreadIndicesSafely(threads: Int) {
        let parts = 200
        let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: parts)
        runs.initialize(repeating: 0)
        defer { runs.deallocate() }
        let busy = Mutex([Int](repeating: 0, count: threads))
        let overlaps = Atomic<Int>(0), badThread = Atomic<Int>(0)
        let body: (WorkPart) -> Void = { part in
            guard part.thread < threads else { badThread.add(1, ordering: .relaxed); return }
            let running = busy.withLock { busy in
                busy[part.thread] += 1
                return busy[part.thread]
            }
            if running != 1 { overlaps.add(1, ordering: .relaxed) }
            runs[part.index] += 1
            usleep(100)
            busy.withLock { $0[part.thread] -= 1 }
        }
        if threads <= 64 {
            Self.onPool(parts: parts, threads: threads, body)
        } else {
            #expect(!Parallel.runOnPool(parts: parts, threads: threads, body))
            Parallel.run(parts: parts, threads: threads, body)
        }
        #expect(badThread.load(ordering: .relaxed) == 0)
        #expect(overlaps.load(ordering: .relaxed) == 0)
        #expect((0..<parts).allSatisfy { runs[$0] == 1 })
    }

    /// In a two-thread job the caller claims parts from the front and the worker from the back, so
    /// whatever the timing, the caller's parts are a prefix of 0..<parts and the worker's the rest:
    /// part i of every step lands on the same thread as part i of the step before.
    @Test func twoThreadJobsGiveTheCallerTheFirstPartsAndTheWorkerTheLast() {
        let parts = 12
        for job in 0..<50 {
            let thread = Mutex([Int](repeating: -1, count: parts))
            Self.onPool(parts: parts, threads: 2) { part in
                thread.withLock { $0[part.index] = part.thread }
                if job % 2 == 0 { usleep(200) }  // slow parts, so that both threads take some
            }
            let order = thread.withLock { $0 }
            #expect(order.allSatisfy { $0 == 0 || $0 == 1 }, "job \(job): \(order)")
            let firstOfWorker = order.firstIndex(of: 1) ?? parts
            #expect(order[..<firstOfWorker].allSatisfy { $0 == 0 } && order[firstOfWorker...].allSatisfy { $0 == 1 },
                    "job \(job): threads per part \(order)")
            if job % 2 == 0 { #expect(order.contains(0), "job \(job): the caller ran no part") }
        }
    }

    @Test func partsForAStepStayWithinTheUnits() {
        #expect(Parallel.parts(units: 64, threads: 1) == 1)
        #expect(Parallel.parts(units: 64, threads: 2) == 8)
        #expect(Parallel.parts(units: 3, threads: 2) == 3)
        #expect(Parallel.parts(units: 0, threads: 2) == 1)
    }
}
