"""Explicit references of the Focal Transformer's focal keys and attention,
written from the spec, shared by the backbone's and the converter's tests
(tests/models/test_focal.py, tests/converters/test_focal_convert.py)."""
import torch
import torch.nn.functional as F


def ceil_div(a, b):
    return -(-a // b)


def window_partition(x, w):
    """(B, H, W, C) -> (B * windows, w * w, C), windows row-major."""
    B, H, W, C = x.shape
    x = x.view(B, H // w, w, W // w, w, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, C)


def kept_ring_positions(window, expand):
    """valid_ind_rolled of the spec: the rolled-window positions kept from
    the shifts (-e,-e), (-e,+e), (+e,-e), (+e,+e), as flat indices into the
    four concatenated windows."""
    w, e = window, expand
    r = torch.arange(w)[:, None].expand(w, w)
    c = torch.arange(w)[None, :].expand(w, w)
    dropped = [(r < w - e) & (c < w - e), (r < w - e) & (c >= e),
               (r >= e) & (c < w - e), (r >= e) & (c >= e)]
    keep = torch.stack([~d for d in dropped]).flatten()
    return keep.nonzero().flatten()


def reference_fine_keys(k, window, expand, ring):
    """Own window then, with ``ring``, the rolled windows' kept tokens.

    k: (B, Hp, Wp, C) -> (B * windows, N_fine, C).
    """
    own = window_partition(k, window)
    if not ring:
        return own
    e = expand
    rolled = [
        window_partition(torch.roll(k, shifts, dims=(1, 2)), window)
        for shifts in ((-e, -e), (-e, e), (e, -e), (e, e))
    ]
    rolled = torch.cat(rolled, 1)[:, kept_ring_positions(window, expand)]
    return torch.cat([own, rolled], 1)


def reference_pooled_keys(k_pooled, focal_window):
    """Unfold with kernel fw, stride 1, zero padding fw // 2.

    k_pooled: (B, Ph, Pw, C) -> keys (B * Ph * Pw, fw^2, C) and the -100
    mask of positions outside the pooled map (Ph * Pw, fw^2).
    """
    B, Ph, Pw, C = k_pooled.shape
    fw = focal_window
    cols = F.unfold(k_pooled.permute(0, 3, 1, 2), fw, padding=fw // 2)
    keys = cols.view(B, C, fw * fw, Ph * Pw).permute(0, 3, 2, 1)
    ones = F.unfold(torch.ones(1, 1, Ph, Pw), fw, padding=fw // 2)
    mask = torch.zeros(Ph * Pw, fw * fw).masked_fill(
        ones.view(fw * fw, Ph * Pw).T == 0, -100.)
    return keys.reshape(B * Ph * Pw, fw * fw, C), mask


def official_focal_attention(weights, heads, x, hw, w=7):
    """The spec's focal attention for x: (B, H * W, C), written out step by
    step on weights named as in the authors' checkpoints (relative to a
    block): pad, pool 7x7 sub-windows, qkv, rolled ring, unfolded pooled keys
    with the -100 mask, the three bias tables, one softmax. The expand size
    and the pooled region size are read from the table shapes; a map whose
    short side fits in a window gets no ring."""
    B, L, C = x.shape
    H, W = hw
    d = C // heads
    pooled_table = weights['attn.relative_position_bias_table_to_windows.0']
    fw = round(pooled_table.shape[1]**0.5) - w + 1
    ring_table = weights.get('attn.relative_position_bias_table_to_neighbors')
    e = 0 if ring_table is None else w - round(
        (w * w - ring_table.shape[-1] // 4)**0.5)
    Hp, Wp = ceil_div(H, w) * w, ceil_div(W, w) * w
    x = F.pad(x.view(B, H, W, C), (0, 0, 0, Wp - W, 0, Hp - H))
    ph, pw = Hp // w, Wp // w
    sub = window_partition(x, w).view(B, ph, pw, w * w, C)
    pooled = F.linear(
        sub.transpose(3, 4), weights['pool_layers.0.weight'],
        weights['pool_layers.0.bias']).squeeze(-1)

    def qkv(t):
        return F.linear(t, weights['attn.qkv.weight'],
                        weights['attn.qkv.bias']).chunk(3, -1)

    q, k, v = qkv(x)
    ring = e > 0 and min(H, W) > w
    k_fine = reference_fine_keys(k, w, e, ring)
    v_fine = reference_fine_keys(v, w, e, ring)
    _, k_pooled, v_pooled = qkv(pooled)
    k_pooled, mask = reference_pooled_keys(k_pooled, fw)
    v_pooled, _ = reference_pooled_keys(v_pooled, fw)
    keys = torch.cat([k_fine, k_pooled], 1)
    values = torch.cat([v_fine, v_pooled], 1)

    def heads_first(t):
        return t.view(t.shape[0], t.shape[1], heads, d).transpose(1, 2)

    q, keys, values = map(heads_first, (window_partition(q, w), keys, values))
    logits = (q * d**-0.5) @ keys.transpose(-2, -1)

    table = weights['attn.relative_position_bias_table']
    pos = torch.arange(w * w)
    dr = pos[:, None] // w - pos[None, :] // w + w - 1
    dc = pos[:, None] % w - pos[None, :] % w + w - 1
    biases = [table[dr * (2 * w - 1) + dc].permute(2, 0, 1)]
    if ring:
        biases.append(ring_table[0])
    qh, qw = pos // w, pos % w
    kpos = torch.arange(fw * fw)
    kh, kw = kpos // fw, kpos % fw
    pooled_index = ((qh[:, None] - kh[None, :] + fw - 1) * (w + fw - 1) +
                    qw[:, None] - kw[None, :] + fw - 1)
    biases.append(pooled_table[:, pooled_index])
    bias = torch.cat(biases, -1)
    logits = logits + bias
    logits[..., -fw * fw:] += mask.repeat(B, 1)[:, None, None, :]
    out = logits.softmax(-1) @ values
    out = out.transpose(1, 2).reshape(B, ph, pw, w, w, C)
    out = out.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
    return F.linear(out[:, :H, :W].reshape(B, L, C),
                    weights['attn.proj.weight'], weights['attn.proj.bias'])
