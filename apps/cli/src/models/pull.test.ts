import { describe, expect, it } from 'vitest';

import { expectedOf } from './pull.js';

describe('the hash a pulled file is checked against', () => {
  const oid = 'a'.repeat(40);
  const sha256 = 'b'.repeat(64);

  it('is the LFS sha256 for an LFS or Xet-stored file and the git blob id for a small one', () => {
    const lfs = { oid: sha256, size: 10, pointerSize: 130 };
    expect(expectedOf({ type: 'file', path: 'unet/model.onnx', size: 130, oid, lfs })).toEqual({
      path: 'unet/model.onnx',
      size: 10,
      algorithm: 'sha256',
      hash: sha256,
    });
    expect(
      expectedOf({ type: 'file', path: 'unet/model.onnx', size: 130, oid, lfs, xetHash: 'c'.repeat(64) }),
    ).toMatchObject({ algorithm: 'sha256', hash: sha256 });
    expect(expectedOf({ type: 'file', path: 'model_index.json', size: 540, oid })).toEqual({
      path: 'model_index.json',
      size: 540,
      algorithm: 'git-sha1',
      hash: oid,
    });
  });

  it('refuses a file whose only hash is one pull cannot check', () => {
    expect(() =>
      expectedOf({ type: 'file', path: 'unet/model.onnx', size: 9, oid, xetHash: 'c'.repeat(64) }),
    ).toThrow('unet/model.onnx: the hub lists only a Xet hash for it');
    expect(() => expectedOf({ type: 'file', path: 'x.json', size: 9 })).toThrow(
      'x.json: the hub lists no hash',
    );
  });
});
