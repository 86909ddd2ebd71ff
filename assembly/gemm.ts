// Packed, register-blocked single-precision matrix product (the only big loop in training).
//
//   C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C        row-major, beta ∈ {0, 1}
//
//   op(A)[i][p] = transA ? A[p·lda + i] : A[i·lda + p]
//   op(B)[p][j] = transB ? B[j·ldb + p] : B[p·ldb + j]
//
// Training needs three orientations of the same product and all are this one routine:
//   x·W   (forward)            transA=0 transB=0
//   g·Wᵀ  (input gradient)     transA=0 transB=1
//   xᵀ·g  (weight gradient)    transA=1 transB=0
//
// Scheme (GotoBLAS/BLIS): for each block of KC along K, op(B) is packed into panels of NR=8
// columns ([p][8] contiguous) and op(A) into blocks of MC rows cut in panels of MR=4 rows
// ([p][4] contiguous). The micro-kernel keeps a 4×8 tile of C in eight f32x4 registers and,
// per p, does one 4-float load of A broadcast lane by lane, two 4-float loads of B and eight
// multiply-adds (fused with relaxed SIMD). Packing zero-pads ragged edges, so the micro-kernel
// always runs full tiles; edge tiles are written through a small buffer, only the valid part.
//
// Nothing is allocated: `work` points at scratch memory owned by the caller, at least
// gemmWorkFloats(M, N, K) floats (see that function).

import { madd, smadd } from "./simd";

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;

// Scratch floats needed by gemm for these sizes: packed B block + packed A block + one tile.
export function gemmWorkFloats(M: i32, N: i32, K: i32): i32 {
  if (K > 0 && isSkinny(M, N, K)) return K * N; // packed op(B) of the skinny loops
  const kc = min(K, KC);
  const mc = min(roundUp(M, MR), MC);
  // + flags and index lists (used p; with K ≤ KC also used rows and columns)
  return kc * roundUp(N, NR) + kc * mc + MR * NR + max(K, max(M, N)) + K + KC + M + N + K;
}

@inline function roundUp(x: i32, m: i32): i32 {
  return ((x + m - 1) / m) * m;
}

// Packs rows idx[0..kc) of op(B) into panels: Bp[jp][pp][c] = op(B)[idx[pp]][jp·NR+c] (0 past N).
function packB(transB: i32, N: i32, kc: i32, idx: usize, B: usize, ldb: i32, Bp: usize): void {
  const panel: usize = <usize>kc * NR * 4; // bytes of one packed panel
  if (!transB) {
    // Walk B row by row (contiguous reads); each row scatters 8-float pieces to the panels.
    const nFull = N & ~(NR - 1);
    for (let pp = 0; pp < kc; pp++) {
      const src = B + <usize>load<i32>(idx + (<usize>pp << 2)) * ldb * 4;
      let dst = Bp + <usize>pp * NR * 4;
      for (let j0 = 0; j0 < nFull; j0 += NR) {
        v128.store(dst, v128.load(src + (<usize>j0 << 2)));
        v128.store(dst, v128.load(src + (<usize>j0 << 2), 16), 16);
        dst += panel;
      }
      if (nFull < N) {
        for (let c = 0; c < NR; c++) {
          store<f32>(dst + c * 4, nFull + c < N ? load<f32>(src + (<usize>(nFull + c) << 2)) : 0);
        }
      }
    }
    return;
  }
  // op(B)[p][j] = B[j·ldb + p]: column j of op(B) is a row of B, gathered at the listed p.
  for (let j0 = 0; j0 < N; j0 += NR) {
    const nr = min(NR, N - j0);
    for (let c = 0; c < NR; c++) {
      let dst = Bp + c * 4;
      if (c < nr) {
        const row = B + <usize>(j0 + c) * ldb * 4;
        for (let pp = 0; pp < kc; pp++) {
          store<f32>(dst, load<f32>(row + (<usize>load<i32>(idx + (<usize>pp << 2)) << 2)));
          dst += NR * 4;
        }
      } else {
        for (let pp = 0; pp < kc; pp++) {
          store<f32>(dst, 0);
          dst += NR * 4;
        }
      }
    }
    Bp += panel;
  }
}

// Packs columns idx[0..kc) of rows i0..i0+mc of op(A) into panels:
// Ap[ip][pp][r] = op(A)[i0+ip·MR+r][idx[pp]] (0 past mc).
function packA(transA: i32, mc: i32, kc: i32, i0: i32, idx: usize, A: usize, lda: i32, Ap: usize): void {
  for (let r0 = 0; r0 < mc; r0 += MR) {
    const mr = min(MR, mc - r0);
    if (transA) {
      // op(A)[i][p] = A[p·lda + i]: the MR values for one p are contiguous in A.
      const base = A + <usize>(i0 + r0) * 4;
      for (let pp = 0; pp < kc; pp++) {
        const src = base + <usize>load<i32>(idx + (<usize>pp << 2)) * lda * 4;
        if (mr == MR) v128.store(Ap, v128.load(src));
        else for (let r = 0; r < MR; r++) store<f32>(Ap + r * 4, r < mr ? load<f32>(src + r * 4) : 0);
        Ap += MR * 4;
      }
    } else {
      for (let r = 0; r < MR; r++) {
        let dst = Ap + r * 4;
        if (r < mr) {
          const row = A + <usize>(i0 + r0 + r) * lda * 4;
          for (let pp = 0; pp < kc; pp++) {
            store<f32>(dst, load<f32>(row + (<usize>load<i32>(idx + (<usize>pp << 2)) << 2)));
            dst += MR * 4;
          }
        } else {
          for (let pp = 0; pp < kc; pp++) {
            store<f32>(dst, 0);
            dst += MR * 4;
          }
        }
      }
      Ap += <usize>kc * MR * 4;
    }
  }
}

// Marks in flags[p] (i32, non-zero = used) whether column p of op(A) has any non-zero entry.
// A product term op(A)[i][p]·op(B)[p][j] with a zero column contributes exactly +0 to every sum
// it enters, so skipping those p changes no bit of C (finite B; the sums start at +0). ReLU and
// dropout make such columns common: after the reference's epoch most first-layer units are 0 for
// a whole batch.
function usedColumns(transA: i32, M: i32, K: i32, A: usize, lda: i32, flags: usize): void {
  const zero = f32x4.splat(0);
  if (transA) {
    for (let p = 0; p < K; p++) {
      const row = A + <usize>p * lda * 4;
      let any = i32x4.splat(0);
      let i = 0;
      for (; i + 4 <= M; i += 4) any = v128.or(any, f32x4.ne(v128.load(row + (<usize>i << 2)), zero));
      let used = v128.any_true(any);
      for (; i < M && !used; i++) used = load<f32>(row + (<usize>i << 2)) != 0;
      store<i32>(flags + (<usize>p << 2), used ? 1 : 0);
    }
    return;
  }
  memory.fill(flags, 0, <usize>K * 4);
  for (let i = 0; i < M; i++) {
    const row = A + <usize>i * lda * 4;
    let p = 0;
    for (; p + 4 <= K; p += 4) {
      const f = flags + (<usize>p << 2);
      v128.store(f, v128.or(v128.load(f), f32x4.ne(v128.load(row + (<usize>p << 2)), zero)));
    }
    for (; p < K; p++) if (load<f32>(row + (<usize>p << 2)) != 0) store<i32>(flags + (<usize>p << 2), 1);
  }
}

// One MR×NR tile: acc = Σ_p Ap[p][0..4) ⊗ Bp[p][0..8), then C = alpha·acc + beta·C on the
// valid mr×nr corner. Full tiles store straight into C; edge tiles go through `tile`.
@inline function microKernel(
  kc: i32, Ap: usize, Bp: usize, alpha: f32, beta: f32,
  C: usize, ldc: i32, mr: i32, nr: i32, tile: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a = Ap, b = Bp;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let ar = v128.load32_splat(a);
    c00 = madd(ar, b0, c00);
    c01 = madd(ar, b1, c01);
    ar = v128.load32_splat(a, 4);
    c10 = madd(ar, b0, c10);
    c11 = madd(ar, b1, c11);
    ar = v128.load32_splat(a, 8);
    c20 = madd(ar, b0, c20);
    c21 = madd(ar, b1, c21);
    ar = v128.load32_splat(a, 12);
    c30 = madd(ar, b0, c30);
    c31 = madd(ar, b1, c31);
    a += MR * 4;
    b += NR * 4;
  }
  const va = f32x4.splat(alpha);
  const full = mr == MR && nr == NR;
  const out = full ? C : tile;
  const ld: usize = full ? <usize>ldc * 4 : NR * 4;
  if (full && beta != 0) {
    let row = out;
    v128.store(row, f32x4.add(v128.load(row), f32x4.mul(va, c00)));
    v128.store(row, f32x4.add(v128.load(row, 16), f32x4.mul(va, c01)), 16);
    row += ld;
    v128.store(row, f32x4.add(v128.load(row), f32x4.mul(va, c10)));
    v128.store(row, f32x4.add(v128.load(row, 16), f32x4.mul(va, c11)), 16);
    row += ld;
    v128.store(row, f32x4.add(v128.load(row), f32x4.mul(va, c20)));
    v128.store(row, f32x4.add(v128.load(row, 16), f32x4.mul(va, c21)), 16);
    row += ld;
    v128.store(row, f32x4.add(v128.load(row), f32x4.mul(va, c30)));
    v128.store(row, f32x4.add(v128.load(row, 16), f32x4.mul(va, c31)), 16);
  } else {
    let row = out;
    v128.store(row, f32x4.mul(va, c00));
    v128.store(row, f32x4.mul(va, c01), 16);
    row += ld;
    v128.store(row, f32x4.mul(va, c10));
    v128.store(row, f32x4.mul(va, c11), 16);
    row += ld;
    v128.store(row, f32x4.mul(va, c20));
    v128.store(row, f32x4.mul(va, c21), 16);
    row += ld;
    v128.store(row, f32x4.mul(va, c30));
    v128.store(row, f32x4.mul(va, c31), 16);
  }
  if (!full) {
    for (let r = 0; r < mr; r++) {
      const dst = C + <usize>r * ldc * 4;
      const src = tile + <usize>r * NR * 4;
      for (let c = 0; c < nr; c++) {
        const v = load<f32>(src + c * 4);
        store<f32>(dst + c * 4, beta != 0 ? load<f32>(dst + c * 4) + v : v);
      }
    }
  }
}

// ---- skinny products (the LoRA factor products: r is 1..8) ------------------------------------
// The packed kernel pads M to 4 and N to 8 and packs whole panels: for C = u·Bᵀ with K = r = 1
// or ∂A = ĝuᵀ·h with M = r that is mostly padding. These three loops do the same sums without it.
// A product takes exactly one path, chosen from (M, N, K) alone (isSkinny), so splitting a big
// product across threads never changes which path an element goes through.

const SKINNY: i32 = 8;

// Whether gemm uses a skinny loop for these sizes. The thread pool only splits non-skinny products.
export function isSkinny(M: i32, N: i32, K: i32): bool {
  return K <= SKINNY || M <= 4 || N <= 4;
}

@inline function opA(transA: i32, A: usize, lda: i32, i: i32, p: i32): f32 {
  return transA ? load<f32>(A + (<usize>p * lda + i) * 4) : load<f32>(A + (<usize>i * lda + p) * 4);
}

// Vectorised along N: C[i][j..] = alpha·Σ_p op(A)[i][p]·Bp[p][j..] (+ C), with op(B) rows
// contiguous (packed into `work` first when transB). For small K or small M.
function gemmRows(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32, work: usize): void {
  let Bp = B, ldbp = ldb;
  if (transB) {
    for (let p = 0; p < K; p++) {
      for (let j = 0; j < N; j++) store<f32>(work + (<usize>p * N + j) * 4, load<f32>(B + (<usize>j * ldb + p) * 4));
    }
    Bp = work;
    ldbp = N;
  }
  const va = f32x4.splat(alpha);
  for (let i = 0; i < M; i++) {
    const crow = C + <usize>i * ldc * 4;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      for (let p = 0; p < K; p++) {
        const a = f32x4.splat(opA(transA, A, lda, i, p));
        const b = Bp + (<usize>p * ldbp + j) * 4;
        acc0 = madd(a, v128.load(b), acc0);
        acc1 = madd(a, v128.load(b, 16), acc1);
      }
      const c = crow + (<usize>j << 2);
      if (beta != 0) {
        v128.store(c, f32x4.add(v128.load(c), f32x4.mul(va, acc0)));
        v128.store(c, f32x4.add(v128.load(c, 16), f32x4.mul(va, acc1)), 16);
      } else {
        v128.store(c, f32x4.mul(va, acc0));
        v128.store(c, f32x4.mul(va, acc1), 16);
      }
    }
    for (; j < N; j++) {
      let acc: f32 = 0;
      for (let p = 0; p < K; p++) acc = smadd(opA(transA, A, lda, i, p), load<f32>(Bp + (<usize>p * ldbp + j) * 4), acc);
      const c = crow + (<usize>j << 2);
      store<f32>(c, beta != 0 ? load<f32>(c) + alpha * acc : alpha * acc);
    }
  }
}

// Dot products along K for N ≤ 4 with A not transposed: C[i][q] = alpha·A[i][·]·op(B)[·][q].
// op(B) columns are packed contiguous into `work` ([q][p]).
function gemmDots(transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32, work: usize): void {
  for (let q = 0; q < N; q++) {
    for (let p = 0; p < K; p++) {
      store<f32>(work + (<usize>q * K + p) * 4, transB ? load<f32>(B + (<usize>q * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + q) * 4));
    }
  }
  for (let i = 0; i < M; i++) {
    const arow = A + <usize>i * lda * 4;
    for (let q = 0; q < N; q++) {
      const bcol = work + <usize>q * K * 4;
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      let p = 0;
      for (; p + 8 <= K; p += 8) {
        acc0 = madd(v128.load(arow + (<usize>p << 2)), v128.load(bcol + (<usize>p << 2)), acc0);
        acc1 = madd(v128.load(arow + (<usize>p << 2), 16), v128.load(bcol + (<usize>p << 2), 16), acc1);
      }
      const v = f32x4.add(acc0, acc1);
      let acc = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
      for (; p < K; p++) acc = smadd(load<f32>(arow + (<usize>p << 2)), load<f32>(bcol + (<usize>p << 2)), acc);
      const c = C + (<usize>i * ldc + q) * 4;
      store<f32>(c, beta != 0 ? load<f32>(c) + alpha * acc : alpha * acc);
    }
  }
}

// Vectorised along M for N ≤ 4 with A transposed (op(A)[i][p] = A[p][i], contiguous in i):
// C[i..i+4][q] = alpha·Σ_p A[p][i..i+4]·op(B)[p][q]. This is ∂B = s·gᵀ·u.
function gemmCols(transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  for (let q = 0; q < N; q++) {
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      let acc = f32x4.splat(0);
      for (let p = 0; p < K; p++) {
        const b = transB ? load<f32>(B + (<usize>q * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + q) * 4);
        acc = madd(v128.load(A + (<usize>p * lda + i) * 4), f32x4.splat(b), acc);
      }
      const c0 = C + (<usize>i * ldc + q) * 4, st = <usize>ldc * 4;
      const v0 = alpha * f32x4.extract_lane(acc, 0), v1 = alpha * f32x4.extract_lane(acc, 1);
      const v2 = alpha * f32x4.extract_lane(acc, 2), v3 = alpha * f32x4.extract_lane(acc, 3);
      if (beta != 0) {
        store<f32>(c0, load<f32>(c0) + v0); store<f32>(c0 + st, load<f32>(c0 + st) + v1);
        store<f32>(c0 + 2 * st, load<f32>(c0 + 2 * st) + v2); store<f32>(c0 + 3 * st, load<f32>(c0 + 3 * st) + v3);
      } else {
        store<f32>(c0, v0); store<f32>(c0 + st, v1); store<f32>(c0 + 2 * st, v2); store<f32>(c0 + 3 * st, v3);
      }
    }
    for (; i < M; i++) {
      let acc: f32 = 0;
      for (let p = 0; p < K; p++) {
        const b = transB ? load<f32>(B + (<usize>q * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + q) * 4);
        acc = smadd(load<f32>(A + (<usize>p * lda + i) * 4), b, acc);
      }
      const c = C + (<usize>i * ldc + q) * 4;
      store<f32>(c, beta != 0 ? load<f32>(c) + alpha * acc : alpha * acc);
    }
  }
}

// C[row(r)][cols[c]] = tile[r][c] (+ C with beta 1) for the mr×nr corner of an MR×NR tile, where
// row(r) = rows ? rows[r] : row0 + r: how the compacted products write their results.
@inline function scatterTile(tile: usize, C: usize, ldc: i32, mr: i32, nr: i32, row0: i32, rows: usize, cols: usize, beta: f32): void {
  for (let r = 0; r < mr; r++) {
    const i = rows ? load<i32>(rows + (<usize>r << 2)) : row0 + r;
    const crow = C + <usize>i * ldc * 4;
    for (let c = 0; c < nr; c++) {
      const dst = crow + (<usize>load<i32>(cols + (<usize>c << 2)) << 2);
      const v = load<f32>(tile + (<usize>(r * NR + c) << 2));
      store<f32>(dst, beta != 0 ? load<f32>(dst) + v : v);
    }
  }
}

// The used p of block [p0, p0 + KC) into idx; returns how many. Blocks stay aligned to KC in the
// original p, so each element's partial sums, and so its rounding, are those of the dense product.
@inline function usedInBlock(flags: usize, p0: i32, K: i32, idx: usize): i32 {
  let kc = 0;
  for (let p = p0; p < min(p0 + KC, K); p++) {
    if (load<i32>(flags + (<usize>p << 2))) store<i32>(idx + (<usize>(kc++) << 2), p);
  }
  return kc;
}

// Weight-gradient products (xᵀ·g: K = batch ≤ KC, one K-block) also skip whole rows of op(A)
// (units that were 0 for the whole batch) and whole columns of op(B) (units whose gradient was 0):
// those elements of C are alpha·0 (+ C). Everything else is the dense computation, term for term.
// Lists live in `work` after the packed blocks: kIdx (K), rIdx (M), cIdx (N).
// Returns false (having written nothing) when fewer than 1/8 of the rows and columns would be
// skipped: the dense path is faster then.
function gemmSkipRowsCols(
  transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32, work: usize,
): bool {
  const Bp = work;
  const Ap = Bp + <usize>K * roundUp(N, NR) * 4;
  const tile = Ap + <usize>K * min(roundUp(M, MR), MC) * 4;
  const flags = tile + MR * NR * 4;
  const kIdx = flags + <usize>max(K, max(M, N)) * 4;
  const rIdx = kIdx + <usize>K * 4;
  const cIdx = rIdx + <usize>M * 4;
  // Used p (columns of op(A)), then used rows of op(A) and used columns of op(B) over those p.
  usedColumns(transA, M, K, A, lda, flags);
  let kc = 0;
  for (let p = 0; p < K; p++) if (load<i32>(flags + (<usize>p << 2))) store<i32>(kIdx + (<usize>(kc++) << 2), p);
  let mu = 0;
  for (let i = 0; i < M; i++) {
    let used = false;
    for (let pp = 0; pp < kc && !used; pp++) used = opA(transA, A, lda, i, load<i32>(kIdx + (<usize>pp << 2))) != 0;
    if (used) store<i32>(rIdx + (<usize>(mu++) << 2), i);
  }
  let nu = 0;
  for (let j = 0; j < N; j++) {
    let used = false;
    for (let pp = 0; pp < kc && !used; pp++) {
      const p = load<i32>(kIdx + (<usize>pp << 2));
      used = (transB ? load<f32>(B + (<usize>j * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + j) * 4)) != 0;
    }
    if (used) store<i32>(cIdx + (<usize>(nu++) << 2), j);
  }
  if (<i64>mu * nu * 8 > <i64>M * N * 7) return false;
  if (beta == 0) {
    // Skipped rows and columns: C = alpha·0. (Used ones are written below.)
    const z = alpha * <f32>0;
    let r = 0;
    for (let i = 0; i < M; i++) {
      const row = C + <usize>i * ldc * 4;
      if (r < mu && load<i32>(rIdx + (<usize>r << 2)) == i) {
        r++;
        let c = 0;
        for (let j = 0; j < N; j++) {
          if (c < nu && load<i32>(cIdx + (<usize>c << 2)) == j) { c++; continue; }
          store<f32>(row + (<usize>j << 2), z);
        }
      } else {
        for (let j = 0; j < N; j++) store<f32>(row + (<usize>j << 2), z);
      }
    }
  }
  if (mu == 0 || nu == 0 || kc == 0) {
    if (beta == 0) for (let r = 0; r < mu; r++) for (let c = 0; c < nu; c++) {
      store<f32>(C + (<usize>load<i32>(rIdx + (<usize>r << 2)) * ldc + load<i32>(cIdx + (<usize>c << 2))) * 4, alpha * <f32>0);
    }
    return true;
  }
  // Pack the used columns of op(B) (rows kIdx) as panels of 8.
  const panel: usize = <usize>kc * NR * 4;
  for (let c0 = 0; c0 < nu; c0 += NR) {
    const dstPanel = Bp + <usize>(c0 / NR) * panel;
    for (let c = 0; c < NR; c++) {
      let dst = dstPanel + c * 4;
      const has = c0 + c < nu;
      const j = has ? load<i32>(cIdx + (<usize>(c0 + c) << 2)) : 0;
      for (let pp = 0; pp < kc; pp++) {
        const p = load<i32>(kIdx + (<usize>pp << 2));
        store<f32>(dst, has ? (transB ? load<f32>(B + (<usize>j * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + j) * 4)) : 0);
        dst += NR * 4;
      }
    }
  }
  for (let u0 = 0; u0 < mu; u0 += MC) {
    const mc = min(MC, mu - u0);
    // Pack the used rows u0..u0+mc of op(A) (columns kIdx) as panels of 4.
    let ap = Ap;
    for (let r0 = 0; r0 < mc; r0 += MR) {
      for (let pp = 0; pp < kc; pp++) {
        const p = load<i32>(kIdx + (<usize>pp << 2));
        for (let r = 0; r < MR; r++) {
          const has = r0 + r < mc;
          store<f32>(ap + r * 4, has ? opA(transA, A, lda, load<i32>(rIdx + (<usize>(u0 + r0 + r) << 2)), p) : 0);
        }
        ap += MR * 4;
      }
    }
    for (let c0 = 0; c0 < nu; c0 += NR) {
      const nr = min(NR, nu - c0);
      const bp = Bp + <usize>(c0 / NR) * panel;
      for (let r0 = 0; r0 < mc; r0 += MR) {
        const mr = min(MR, mc - r0);
        // Through the tile (mr = 0 forces it), then scattered to the used rows and columns.
        microKernel(kc, Ap + <usize>r0 * kc * 4, bp, alpha, 0, tile, NR, 0, nr, tile);
        scatterTile(tile, C, ldc, mr, nr, 0, rIdx + (<usize>(u0 + r0) << 2), cIdx + (<usize>c0 << 2), beta);
      }
    }
  }
  return true;
}

// Output columns that will be thrown away: in the input-gradient product ∂h = g·Wᵀ of a ReLU
// layer, column j of ∂h is multiplied by 0 wherever the layer's output h was 0; a unit that was 0
// for the whole batch (dead ReLU — most of fc1 after the reference epoch) needs no column at all.
// `mask` (M×N with C's row stride ldc) marks them: columns of C whose mask column is all zero are set to alpha·0
// (beta 0) or left as they are (beta 1) instead of computed. Only correct when the caller zeroes
// those columns afterwards (the ReLU backward does); other columns are the dense computation.
// Lists in `work` after the packed blocks: flags (K), kIdx (KC), cIdx (N).
function gemmMaskedColumns(
  transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32, work: usize, mask: usize,
): bool {
  const Bp = work;
  const Ap = Bp + <usize>min(K, KC) * roundUp(N, NR) * 4;
  const tile = Ap + <usize>min(K, KC) * min(roundUp(M, MR), MC) * 4;
  const flags = tile + MR * NR * 4;
  const kIdx = flags + <usize>max(K, max(M, N)) * 4;
  const cIdx = kIdx + <usize>(K + KC) * 4;
  let nu = 0;
  for (let j = 0; j < N; j++) {
    let used = false;
    for (let i = 0; i < M && !used; i++) used = load<f32>(mask + (<usize>i * ldc + j) * 4) != 0;
    if (used) store<i32>(cIdx + (<usize>(nu++) << 2), j);
  }
  if (nu * 8 > N * 7) return false; // not worth it: dense path
  if (beta == 0) {
    const z = alpha * <f32>0;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) store<f32>(C + (<usize>i * ldc + j) * 4, z);
  }
  if (nu == 0) return true;
  usedColumns(transA, M, K, A, lda, flags);
  let first = true;
  for (let p0 = 0; p0 < K; p0 += KC) {
    const kc = usedInBlock(flags, p0, K, kIdx);
    if (kc == 0) continue;
    const b = first ? beta : <f32>1;
    first = false;
    // Pack the used columns of op(B) at the used p, panels of 8.
    const panel: usize = <usize>kc * NR * 4;
    for (let c0 = 0; c0 < nu; c0 += NR) {
      const dstPanel = Bp + <usize>(c0 / NR) * panel;
      for (let c = 0; c < NR; c++) {
        let dst = dstPanel + c * 4;
        if (c0 + c < nu) {
          const j = load<i32>(cIdx + (<usize>(c0 + c) << 2));
          for (let pp = 0; pp < kc; pp++) {
            const p = load<i32>(kIdx + (<usize>pp << 2));
            store<f32>(dst, transB ? load<f32>(B + (<usize>j * ldb + p) * 4) : load<f32>(B + (<usize>p * ldb + j) * 4));
            dst += NR * 4;
          }
        } else {
          for (let pp = 0; pp < kc; pp++) { store<f32>(dst, 0); dst += NR * 4; }
        }
      }
    }
    for (let i0 = 0; i0 < M; i0 += MC) {
      const mc = min(MC, M - i0);
      packA(transA, mc, kc, i0, kIdx, A, lda, Ap);
      for (let c0 = 0; c0 < nu; c0 += NR) {
        const nr = min(NR, nu - c0);
        const bp = Bp + <usize>(c0 / NR) * panel;
        for (let r0 = 0; r0 < mc; r0 += MR) {
          const mr = min(MR, mc - r0);
          microKernel(kc, Ap + <usize>r0 * kc * 4, bp, alpha, 0, tile, NR, 0, nr, tile);
          scatterTile(tile, C, ldc, mr, nr, i0 + r0, 0, cIdx + (<usize>c0 << 2), b);
        }
      }
    }
  }
  return true;
}

export function gemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32,
  alpha: f32, A: usize, lda: i32, B: usize, ldb: i32,
  beta: f32, C: usize, ldc: i32, work: usize, mask: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K > 0 && isSkinny(M, N, K)) {
    if (N <= 4) {
      if (transA) gemmCols(transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      else gemmDots(transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work);
    } else {
      gemmRows(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work);
    }
    return;
  }
  if (K <= 0) {
    // Empty sum: C = beta·C.
    if (beta == 0) {
      for (let i = 0; i < M; i++) memory.fill(C + <usize>i * ldc * 4, 0, <usize>N * 4);
    }
    return;
  }
  if (mask && K > KC && gemmMaskedColumns(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work, mask)) return;
  if (K <= KC && gemmSkipRowsCols(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work)) return;
  const Bp = work;
  const Ap = Bp + <usize>min(K, KC) * roundUp(N, NR) * 4;
  const tile = Ap + <usize>min(K, KC) * min(roundUp(M, MR), MC) * 4;
  const flags = tile + MR * NR * 4;
  const idx = flags + <usize>K * 4;
  usedColumns(transA, M, K, A, lda, flags);
  let first = true;
  for (let p0 = 0; p0 < K; p0 += KC) {
    const kc = usedInBlock(flags, p0, K, idx);
    if (kc == 0) continue;
    const b = first ? beta : <f32>1;
    first = false;
    packB(transB, N, kc, idx, B, ldb, Bp);
    for (let i0 = 0; i0 < M; i0 += MC) {
      const mc = min(MC, M - i0);
      packA(transA, mc, kc, i0, idx, A, lda, Ap);
      for (let j0 = 0; j0 < N; j0 += NR) {
        const nr = min(NR, N - j0);
        const bp = Bp + <usize>j0 * kc * 4;
        for (let r0 = 0; r0 < mc; r0 += MR) {
          const mr = min(MR, mc - r0);
          microKernel(
            kc, Ap + <usize>r0 * kc * 4, bp, alpha, b,
            C + (<usize>(i0 + r0) * ldc + j0) * 4, ldc, mr, nr, tile,
          );
        }
      }
    }
  }
  if (first && beta == 0) {
    // Every column of op(A) was zero: C = alpha·0.
    const z = alpha * <f32>0;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) store<f32>(C + (<usize>i * ldc + j) * 4, z);
  }
}
