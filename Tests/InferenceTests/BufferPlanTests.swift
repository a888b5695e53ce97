import Testing

@testable import Inference

/// Boundary tensors share buffers only when their lifetimes do not overlap, and every buffer is large enough.
@Suite("Buffer plan")
struct BufferPlanTests {
    typealias Tensor = BufferPlan.Tensor

    /// A chain a -> b -> c -> d reuses buffers: two suffice, and no step reads and writes the same buffer.
    @Test func chainPingPongs() {
        let plan = BufferPlan([
            Tensor(name: "a", count: 100, first: -1, last: 0), Tensor(name: "b", count: 80, first: 0, last: 1),
            Tensor(name: "c", count: 60, first: 1, last: 2), Tensor(name: "d", count: 10, first: 2, last: .max),
        ])
        #expect(plan.capacities.count == 2)
        #expect(plan.assignment["a"] != plan.assignment["b"])
        #expect(plan.assignment["b"] != plan.assignment["c"])
        #expect(plan.assignment["c"] != plan.assignment["d"])
        Self.checkValid(plan, tensors: [("a", 100, -1, 0), ("b", 80, 0, 1), ("c", 60, 1, 2), ("d", 10, 2, .max)])
    }

    /// A residual connection: the skip tensor stays live across the branch, so it never shares with it.
    @Test func residualKeepsSkipAlive() {
        let tensors: [(String, Int, Int, Int)] = [
            ("x", 50, -1, 2), ("e", 300, 0, 1), ("p", 50, 1, 2), ("sum", 50, 2, .max),
            ("unused", 20, 1, 1),
        ]
        let plan = BufferPlan(tensors.map { Tensor(name: $0.0, count: $0.1, first: $0.2, last: $0.3) })
        Self.checkValid(plan, tensors: tensors)
        #expect(plan.capacities.count < tensors.count, "some buffer should be reused")
    }

    /// Every tensor fits its buffer, and tensors alive at the same time (a write and a read in one step
    /// included) never share one.
    static func checkValid(_ plan: BufferPlan, tensors: [(name: String, count: Int, first: Int, last: Int)]) {
        for tensor in tensors {
            guard let buffer = plan.assignment[tensor.name] else {
                Issue.record("\(tensor.name) has no buffer")
                continue
            }
            #expect(plan.capacities[buffer] >= tensor.count, "\(tensor.name) does not fit")
        }
        for a in tensors {
            for b in tensors where a.name < b.name && plan.assignment[a.name] == plan.assignment[b.name] {
                let overlap = a.first <= max(b.last, b.first) && b.first <= max(a.last, a.first)
                #expect(!overlap, "\(a.name) and \(b.name) are alive together but share a buffer")
            }
        }
    }
}
