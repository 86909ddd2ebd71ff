// Fused log-softmax + negative log-likelihood over a batch of m rows of n logits.
//   logp[i][j] = z[i][j] − max_i − log Σ_k exp(z[i][k] − max_i)
//   returns Σ_i −logp[i][y_i]                        (the caller divides by m for the mean)
//   grad[i][j] = gradScale · (softmax[i][j] − [j = y_i])   (skipped when grad = 0)
//   argmax[i] = first j with the largest z[i][j]         (skipped when argmax = 0)
// Rows are short (10 classes): the row math is scalar, in f64 like the reference kernels.
export function logSoftmaxNll(
  z: usize, labels: usize, m: i32, n: i32, grad: usize, gradScale: f32, argmax: usize,
): f64 {
  let total: f64 = 0;
  for (let i = 0; i < m; i++) {
    const row = z + <usize>i * n * 4;
    let best: f32 = load<f32>(row);
    let arg = 0;
    for (let j = 1; j < n; j++) {
      const v = load<f32>(row + (<usize>j << 2));
      if (v > best) { best = v; arg = j; }
    }
    let sum: f64 = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - <f64>best);
    const lse = Math.log(sum);
    if (labels) {
      const y = load<i32>(labels + (<usize>i << 2));
      total -= <f64>load<f32>(row + (<usize>y << 2)) - <f64>best - lse;
      if (grad) {
        const grow = grad + <usize>i * n * 4;
        for (let j = 0; j < n; j++) {
          const p = Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - <f64>best - lse);
          store<f32>(grow + (<usize>j << 2), <f32>((p - (j == y ? 1.0 : 0.0)) * <f64>gradScale));
        }
      }
    }
    if (argmax) store<i32>(argmax + (<usize>i << 2), arg);
  }
  return total;
}
