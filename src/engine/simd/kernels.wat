(module
  (import "env" "memory" (memory 1))
  ;; Gradient kernels on the TF.js wasm heap (see kernels.ts). Byte offsets into the imported memory.
  ;; Depthwise conv filter gradient, NHWC, channel multiplier 1, C a multiple of 4. Byte offsets into memory.
  ;; acc: f64[kh*kw*C] (caller zeroes), tmp: f32[kh*kw*C] scratch (caller zeroes): each output row (n, oh) sums
  ;; into tmp in f32 (at most OW terms per element), then tmp is added into acc in f64 and cleared.
  (func (export "dwFilterGrad")
    (param $x i32) (param $dy i32) (param $acc i32) (param $tmp i32)
    (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oh i32) (local $i i32) (local $j i32) (local $ow i32) (local $c i32)
    (local $ih i32) (local $iw i32) (local $xRow i32) (local $dyRow i32) (local $xo i32) (local $dyo i32)
    (local $t i32) (local $T i32) (local $C4 i32) (local $k i32) (local $v v128) (local $a i32)
    (local.set $C4 (i32.shl (local.get $C) (i32.const 2)))
    (local.set $T (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (local.get $C)))
    (local.set $n (i32.const 0))
    (block $nDone (loop $nLoop
      (br_if $nDone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oh (i32.const 0))
      (block $ohDone (loop $ohLoop
        (br_if $ohDone (i32.ge_u (local.get $oh) (local.get $OH)))
        (local.set $dyRow (i32.add (local.get $dy)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $C4))))
        (local.set $i (i32.const 0))
        (block $iDone (loop $iLoop
          (br_if $iDone (i32.ge_u (local.get $i) (local.get $kh)))
          (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $i)) (local.get $top)))
          (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
            (then
              (local.set $xRow (i32.add (local.get $x)
                (i32.mul (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $C4))))
              (local.set $j (i32.const 0))
              (block $jDone (loop $jLoop
                (br_if $jDone (i32.ge_u (local.get $j) (local.get $kw)))
                (local.set $t (i32.add (local.get $tmp)
                  (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $C4))))
                (local.set $ow (i32.const 0))
                (block $owDone (loop $owLoop
                  (br_if $owDone (i32.ge_u (local.get $ow) (local.get $OW)))
                  (local.set $iw (i32.sub (i32.add (i32.mul (local.get $ow) (local.get $sw)) (local.get $j)) (local.get $left)))
                  (if (i32.and (i32.ge_s (local.get $iw) (i32.const 0)) (i32.lt_s (local.get $iw) (local.get $W)))
                    (then
                      (local.set $xo (i32.add (local.get $xRow) (i32.mul (local.get $iw) (local.get $C4))))
                      (local.set $dyo (i32.add (local.get $dyRow) (i32.mul (local.get $ow) (local.get $C4))))
                      (local.set $c (i32.const 0))
                      (loop $cLoop
                        (local.set $a (i32.add (local.get $t) (local.get $c)))
                        (v128.store align=4 (local.get $a)
                          (f32x4.add (v128.load align=4 (local.get $a))
                            (f32x4.mul
                              (v128.load align=4 (i32.add (local.get $xo) (local.get $c)))
                              (v128.load align=4 (i32.add (local.get $dyo) (local.get $c))))))
                        (local.set $c (i32.add (local.get $c) (i32.const 16)))
                        (br_if $cLoop (i32.lt_u (local.get $c) (local.get $C4))))))
                  (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                  (br $owLoop)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jLoop)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $iLoop)))
        ;; Fold the row's f32 sums into the f64 accumulator and clear them.
        (local.set $k (i32.const 0))
        (block $kDone (loop $kLoop
          (br_if $kDone (i32.ge_u (local.get $k) (local.get $T)))
          (local.set $v (v128.load align=4 (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 2)))))
          (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $k) (i32.const 3))))
          (v128.store align=8 (local.get $a)
            (f64x2.add (v128.load align=8 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
          (v128.store offset=16 align=8 (local.get $a)
            (f64x2.add (v128.load offset=16 align=8 (local.get $a))
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
          (v128.store align=4 (i32.add (local.get $tmp) (i32.shl (local.get $k) (i32.const 2))) (v128.const i32x4 0 0 0 0))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $kLoop)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohLoop)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nLoop)))
  )

  ;; The clamp's gradient (engine/clip.ts): out = dy where lo <= x <= hi, else +0; n floats, 4 at a time, then the
  ;; remainder one by one. A NaN x compares false: 0, as the JavaScript kernel gives.
  (func (export "clipGrad")
    (param $x i32) (param $dy i32) (param $out i32) (param $n i32) (param $lo f32) (param $hi f32)
    (local $i i32) (local $end i32) (local $bytes i32) (local $vlo v128) (local $vhi v128) (local $v v128) (local $s f32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end (i32.and (local.get $bytes) (i32.const -16)))
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $vhi (f32x4.splat (local.get $hi)))
    (local.set $i (i32.const 0))
    (block $done (loop $vec
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (v128.load align=4 (i32.add (local.get $x) (local.get $i))))
      (v128.store align=4 (i32.add (local.get $out) (local.get $i))
        (v128.and
          (v128.and (f32x4.ge (local.get $v) (local.get $vlo)) (f32x4.le (local.get $v) (local.get $vhi)))
          (v128.load align=4 (i32.add (local.get $dy) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $vec)))
    (block $done2 (loop $one
      (br_if $done2 (i32.ge_u (local.get $i) (local.get $bytes)))
      (local.set $s (f32.load (i32.add (local.get $x) (local.get $i))))
      (f32.store (i32.add (local.get $out) (local.get $i))
        (select
          (f32.load (i32.add (local.get $dy) (local.get $i)))
          (f32.const 0)
          (i32.and (f32.ge (local.get $s) (local.get $lo)) (f32.le (local.get $s) (local.get $hi)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $one)))
  )
)
