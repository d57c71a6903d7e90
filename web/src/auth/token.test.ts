import { describe, expect, it } from "vitest";
import { adoptTokenFromLocation, parseTokenFragment, sessionTokenStore, stripTokenFragment } from "./token";

describe("parseTokenFragment", () => {
  it("reads #token=… as printed by the node", () => {
    expect(parseTokenFragment("#token=XYZ")).toBe("XYZ");
    expect(parseTokenFragment("token=abc.def-ghi_")).toBe("abc.def-ghi_");
  });
  it("finds the token among other fragment parameters", () => {
    expect(parseTokenFragment("#view=1&token=s3cr3t")).toBe("s3cr3t");
  });
  it("decodes percent-encoding", () => {
    expect(parseTokenFragment("#token=a%2Bb%3D")).toBe("a+b=");
  });
  it("returns null without a usable token", () => {
    expect(parseTokenFragment("")).toBeNull();
    expect(parseTokenFragment("#")).toBeNull();
    expect(parseTokenFragment("#section-2")).toBeNull();
    expect(parseTokenFragment("#token=")).toBeNull();
    expect(parseTokenFragment("#token=%20")).toBeNull();
  });
});

describe("stripTokenFragment", () => {
  it("removes only the token", () => {
    expect(stripTokenFragment("#token=XYZ")).toBe("");
    expect(stripTokenFragment("#a=1&token=XYZ")).toBe("#a=1");
  });
});

describe("adoptTokenFromLocation", () => {
  it("stores the fragment token and strips it from the URL", () => {
    window.history.replaceState(null, "", "/history?range=1h#token=XYZ");
    const store = sessionTokenStore(window.sessionStorage);
    store.clear();
    expect(adoptTokenFromLocation(store)).toBe(true);
    expect(store.get()).toBe("XYZ");
    expect(window.location.hash).toBe("");
    expect(window.location.pathname + window.location.search).toBe("/history?range=1h");
    expect(window.sessionStorage.getItem("sentra.token")).toBe("XYZ");
  });
  it("leaves the URL and the stored token alone without a fragment token", () => {
    window.history.replaceState(null, "", "/#other");
    const store = sessionTokenStore(window.sessionStorage);
    store.set("kept");
    expect(adoptTokenFromLocation(store)).toBe(false);
    expect(store.get()).toBe("kept");
    expect(window.location.hash).toBe("#other");
  });
});
