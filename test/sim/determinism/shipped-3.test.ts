import { shippedSuite } from './cases.js';

shippedSuite(2, 8);
