//go:build amd64 && !purego

#include "textflag.h"

// func gather32AVX(dst *float64, ldx int, x *float32, d int, idx *int32, n, nidx, ahead int)
// Copies rows idx[0..n-1] of x (rows of d float32 values) to dst (row stride
// ldx float64 values), converting each value to float64 (exact), and
// prefetches row idx[t+ahead] while copying row t, for t+ahead < nidx.
TEXT ·gather32AVX(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ ldx+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ d+24(FP), R9
	MOVQ idx+32(FP), R10
	MOVQ n+40(FP), CX
	MOVQ nidx+48(FP), R14
	MOVQ ahead+56(FP), R11
	SHLQ $3, R8          // dst row stride in bytes
	SHLQ $2, R9          // source row length in bytes
	XORQ BX, BX          // t

crow:
	CMPQ BX, CX
	JGE  cdone
	// Prefetch row idx[t+ahead].
	LEAQ (BX)(R11*1), AX
	CMPQ AX, R14
	JGE  ccopy
	MOVLQSX (R10)(AX*4), AX
	IMULQ R9, AX
	ADDQ SI, AX
	XORQ DX, DX

cpf:
	PREFETCHT0 (AX)(DX*1)
	ADDQ $64, DX
	CMPQ DX, R9
	JLT  cpf
	PREFETCHT0 -4(AX)(R9*1)

ccopy:
	MOVLQSX (R10)(BX*4), AX
	IMULQ R9, AX
	ADDQ SI, AX          // source row
	MOVQ BX, R12
	IMULQ R8, R12
	ADDQ DI, R12         // destination row
	XORQ DX, DX          // source byte offset; the destination's is 2*DX
	MOVQ R9, R13
	SUBQ $16, R13

cv:
	CMPQ DX, R13
	JGT  cs
	VCVTPS2PD (AX)(DX*1), Y0
	VMOVUPD Y0, (R12)(DX*2)
	ADDQ $16, DX
	JMP  cv

cs:
	CMPQ DX, R9
	JGE  cnext
	VCVTSS2SD (AX)(DX*1), X1, X1
	VMOVSD X1, (R12)(DX*2)
	ADDQ $4, DX
	JMP  cs

cnext:
	INCQ BX
	JMP  crow

cdone:
	VZEROUPPER
	RET
