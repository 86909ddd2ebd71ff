// The memory the wasm kernels work in is managed here, in TS: a first-fit free-list allocator
// over one WebAssembly.Memory. Kernels only ever receive pointers into it (they are built with
// --runtime stub and never allocate), which is what lets several workers share one memory.
//
// Blocks are 64-byte aligned (a cache line; also satisfies v128 alignment). The first 64 KiB
// page is left to the module's own static data.

const ALIGN = 64;
const PAGE = 65536;

export class Arena {
  private top: number;
  private readonly sizes = new Map<number, number>();
  /** Free blocks sorted by address, coalesced. */
  private freeList: { ptr: number; size: number }[] = [];

  constructor(readonly memory: WebAssembly.Memory, private readonly base = PAGE) {
    this.top = base;
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.freeList.length; i++) {
      const blk = this.freeList[i];
      if (blk.size >= size) {
        const ptr = blk.ptr;
        if (blk.size === size) this.freeList.splice(i, 1);
        else { blk.ptr += size; blk.size -= size; }
        this.sizes.set(ptr, size);
        return ptr;
      }
    }
    const ptr = this.top;
    const end = ptr + size;
    if (end > 2 ** 32) throw new RangeError(`wasm memory exhausted: ${end} bytes needed, 4 GiB is the wasm32 limit`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`arena: free of unknown pointer ${ptr}`);
    this.sizes.delete(ptr);
    if (ptr + size === this.top) {
      this.top = ptr;
      // The block below the new top may be free too.
      const last = this.freeList[this.freeList.length - 1];
      if (last && last.ptr + last.size === this.top) { this.top = last.ptr; this.freeList.pop(); }
      return;
    }
    let i = 0;
    while (i < this.freeList.length && this.freeList[i].ptr < ptr) i++;
    this.freeList.splice(i, 0, { ptr, size });
    const next = this.freeList[i + 1];
    if (next && ptr + size === next.ptr) { this.freeList[i].size += next.size; this.freeList.splice(i + 1, 1); }
    const prev = this.freeList[i - 1];
    if (prev && prev.ptr + prev.size === ptr) { prev.size += this.freeList[i].size; this.freeList.splice(i, 1); }
  }

  /** Bytes handed out and not freed. */
  get used(): number {
    let s = 0;
    for (const v of this.sizes.values()) s += v;
    return s;
  }
  get highWater(): number {
    return this.top;
  }
}
