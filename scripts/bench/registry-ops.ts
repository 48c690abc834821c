/** The calls the registry bench makes, shared by the bench (Node) and its driver worker (workerd). */
export type RegistryOp =
  | {
      op: "start";
      user: string;
      family: string;
      tenant: string;
      authSeconds: number;
      endsSeconds: number;
      nowSeconds: number;
    }
  | { op: "rotate"; user: string; family: string; generation: number; nowSeconds: number }
  | { op: "end"; user: string; family: string }
  | { op: "live"; user: string; nowSeconds: number }
  | { op: "revoke"; tenant: string; kind: "key" | "user"; subject: string; atMs: number }
  | { op: "since"; tenant: string; seq: number };
