// ethers v6 sends an EIP-7702 set-code transaction to a Prague node: a new account signs
// an authorization delegating itself to TARGET, a funded dev key sends it (type 4), and
// ethers reads the transaction, its receipt and the account's code back.
// Usage: node tests/node/ethers_set_code.mjs <rpc-url> <private-key> <target-address>
// Prints one JSON line with what it saw; exits non-zero on any failure.
import { ethers } from "ethers";

const [url, key, target] = process.argv.slice(2);
if (!url || !key || !target) {
  console.error("usage: ethers_set_code.mjs <rpc-url> <private-key> <target-address>");
  process.exit(2);
}
const provider = new ethers.JsonRpcProvider(url, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
const sponsor = new ethers.Wallet(key, provider);
const authority = ethers.Wallet.createRandom(provider);
const { chainId } = await provider.getNetwork();
const auth = await authority.authorize({ address: target, nonce: 0n, chainId });
const tx = await sponsor.sendTransaction({ type: 4, to: authority.address, authorizationList: [auth] });
const receipt = await tx.wait();
const seen = await provider.getTransaction(tx.hash);
const code = await provider.getCode(authority.address);
console.log(JSON.stringify({
  hash: tx.hash,
  authority: authority.address,
  type: receipt.type,
  status: receipt.status,
  gasUsed: receipt.gasUsed.toString(),
  seenType: seen.type,
  authorizations: seen.authorizationList.map((a) => ({ address: a.address, nonce: a.nonce.toString(), chainId: a.chainId.toString() })),
  code,
}));
