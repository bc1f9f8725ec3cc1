/// Why a double-precision linear-algebra routine (`LinearAlgebra`) gave no result.
public enum LinearAlgebraError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Cholesky factorisation failed: the leading minor of this order (1-based) is not positive
    /// definite (LAPACK dpotrf's `info`), so the matrix has no inverse of the kind asked for.
    case notPositiveDefinite(order: Int)
    /// The matrix holds a NaN or an infinity.
    case notFinite

    public var description: String {
        switch self {
        case .notPositiveDefinite(let order):
            return "the matrix is not positive definite (its leading minor of order \(order) is not); it is singular "
                + "or indefinite, e.g. a covariance of fewer distinct samples than dimensions with no shrinkage"
        case .notFinite:
            return "the matrix holds a NaN or an infinity; check the values it was computed from"
        }
    }
}
